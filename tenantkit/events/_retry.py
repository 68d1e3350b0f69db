"""When to try a failed delivery again: exponential backoff with jitter, then dead-letter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (from 1) waits about base * factor**(n-1), capped, then jittered.

    Jitter is "equal": half the delay is fixed and half is random, so retries of
    many endpoints spread out without any of them retrying at once. After
    `max_attempts` failures the event is dead-lettered and the endpoint moves on.
    The defaults give 15 attempts: the waits between them add up to 2 to 4 hours
    (about 3 on average), plus the requests' own time.
    """

    max_attempts: int = 15
    base: float = 2.0
    factor: float = 2.0
    cap: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base <= 0 or self.factor < 1 or self.cap < self.base:
            raise ValueError("need base > 0, factor >= 1 and cap >= base")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failure."""
        exponent = min(max(attempt - 1, 0), 64)
        full = min(self.cap, self.base * self.factor**exponent)
        return full / 2 + self.rng.uniform(0, full / 2)

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
