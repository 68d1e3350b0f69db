"""A bounded cache of verified tokens, so a token seen again skips signature and claim checks.

Entries are keyed by the SHA-256 of the token (never the token itself, so a memory
dump holds no usable credential) and expire at the token's own `exp`, without the
verifier's leeway: a cached token is never served at or past its `exp`; from then
on the full check decides. When full, the oldest entry goes first: tokens are
short-lived, so the oldest inserted is close to the soonest expiring.

A cached token stays accepted until its `exp` even if its signing key is retired
from a JWKS meanwhile; keep access tokens short-lived.
"""

from __future__ import annotations

import hashlib
import threading

from tenantkit.tokens.principal import Principal

__all__ = ["VerifiedTokenCache"]


class VerifiedTokenCache:
    """Token digest → (`Principal`, exp), at most `max_entries` of them; safe across threads."""

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[Principal, int]] = {}
        self._lock = threading.Lock()  # writers only; a dict read is atomic

    @staticmethod
    def key(token: bytes) -> bytes:
        """The cache key of a token (its SHA-256)."""
        return hashlib.sha256(token).digest()

    def get(self, key: bytes, now: float) -> Principal | None:
        """The cached principal, or None if absent or if `now` has reached its `exp`."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now < entry[1]:
            return entry[0]
        with self._lock:
            self._entries.pop(key, None)
        return None

    def put(self, key: bytes, principal: Principal, expires_at: int) -> None:
        """Remember a verified token until `expires_at` (its `exp`, in epoch seconds)."""
        with self._lock:
            entries = self._entries
            if key not in entries:
                while len(entries) >= self._max_entries:
                    del entries[next(iter(entries))]
            entries[key] = (principal, expires_at)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
