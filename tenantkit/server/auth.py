"""Integration API keys for the backend API: `Authorization: Bearer <key>`.

Keys are created by `tenantkit keys create-integration` and stored hashed in
`tenantkit.api_keys` (kind 'integration'). A verified key is remembered for a
few seconds, so a burst of requests costs one lookup; archiving a key takes
effect within that window.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from tenantkit.errors import Unauthorized
from tenantkit.orgs import Actor, Management
from tenantkit.orgs._secrets import hash_secret

__all__ = ["IntegrationKeys", "bearer_secret"]

_KEY = re.compile(r"[\x21-\x7e]{1,512}")


def bearer_secret(header: str | None) -> str:
    """The key in an `Authorization: Bearer <key>` header, or Unauthorized.

    The key must be visible ASCII (as every key tenantkit makes is): NUL, control
    characters and anything else never reach the hash or the database.
    """
    if not header:
        raise Unauthorized("missing Authorization header")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip(" ")
    if scheme.lower() != "bearer" or _KEY.fullmatch(secret) is None:
        raise Unauthorized("expected Authorization: Bearer <integration API key>")
    return secret


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
        secret = bearer_secret(header)
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
