"""`IdCache`: a bounded, expiring map from provider ids to tenantkit ids.

Safe to be stale by construction: a user link is never re-pointed (the
database refuses it) and ids are never reused, so a stale entry names either
the right row or a deleted one, which binds nothing (the database checks
membership on every transaction). Expiry bounds how long a deleted-and-relinked
identity keeps failing; `invalidate` makes a change seen at once in this process
(the webhook sync and provisioning call it).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["IdCache", "Key"]

#: ("user" or "org", provider, external id)
Key = tuple[str, str, str]


class IdCache:
    """Thread-safe LRU of at most `size` entries, each kept `ttl` seconds."""

    def __init__(
        self, size: int = 10_000, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if size < 0 or ttl <= 0:
            raise ValueError("size must be >= 0 and ttl > 0")
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> str | None:
        """The cached tenantkit id, or None (absent or expired)."""
        now = self._clock()
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[1] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: Key, value: str) -> None:
        """Remember a resolved id (only positive answers are cached)."""
        if not self._size:
            return
        expires = self._clock() + self._ttl
        with self._lock:
            self._entries[key] = (value, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def invalidate(self, key: Key) -> None:
        """Forget one id (it was unlinked or its row deleted)."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
