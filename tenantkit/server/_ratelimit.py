"""Rate limiting per API key: a token bucket per key, in this process. Off by default."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenantkit.errors import RateLimited

__all__ = ["RateLimit", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`per_minute` requests per key, with bursts of up to `burst` (default: per_minute)."""

    per_minute: int
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or (self.burst is not None and self.burst <= 0):
            raise ValueError("rate limits must be positive")


class RateLimiter:
    """Token buckets keyed by API key id; thread-safe (sync routes run in a pool)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = limit.per_minute / 60.0
        self._capacity = float(limit.burst or limit.per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise RateLimited saying when to retry."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - last) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
                error = RateLimited(f"rate limit exceeded; retry in {wait:.1f}s")
                error.retry_after = max(1, int(wait + 0.999))  # type: ignore[attr-defined]
                raise error
            self._buckets[key] = (tokens - 1.0, now)
