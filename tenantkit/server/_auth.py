"""Integration API keys for the backend API: `Authorization: Bearer <key>`.

Keys are created by `tenantkit keys create-integration` and stored hashed in
`tenantkit.api_keys` (kind 'integration'). A verified key is remembered for a
few seconds, so a burst of requests costs one lookup; archiving a key takes
effect within that window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from tenantkit.orgs import Actor, Management
from tenantkit.orgs._secrets import hash_secret
from tenantkit.tokens import bearer_token

__all__ = ["IntegrationKeys"]

#: Every key tenantkit makes is far shorter; a longer one is never hashed or looked up.
MAX_KEY_LENGTH = 512


class IntegrationKeys:
    """Checks integration keys against the database, with a short positive cache."""

    def __init__(self, engine: Engine, *, cache_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def actor(self, header: str | None) -> Actor:
        """The actor for a request's Authorization header; Unauthorized if not a valid key."""
        secret = bearer_token(header, credential="integration API key",
                              max_length=MAX_KEY_LENGTH)
        digest = hash_secret(secret)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return Actor.api_key(hit[0])
        with self._engine.begin() as conn:
            key = Management(conn, Actor.service()).api_keys.validate(secret, kind="integration")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (key.api_key.api_key_id, now + self._ttl)
        return Actor.api_key(key.api_key.api_key_id)
