"""`OrgApiKeyVerifier`: org API keys as request credentials, checked on a service-role engine.

    keys = OrgApiKeyVerifier(service_engine)                 # share one per process
    app = TenantMiddleware(app, verifier=tokens, api_keys=ApiKeyCredentials(keys), ...)

It satisfies `tenantkit.tokens.ApiKeyVerifier`: a secret shaped like an org key
(`tk_org_...`) is looked up by its SHA-256 (`ApiKeys.validate`, which also
stamps `last_used_at` at most once a minute) and becomes an `ApiKeyPrincipal`:
the key's id, org and permissions. Validating reads the hashes, so it runs as
the service role, never the app role.

A valid key is remembered for `cache_seconds` (default 5; never past its own
expiry), keyed by the secret's SHA-256, so a burst of requests costs one
lookup. The cache cannot keep an archived key working: what the middleware
binds is the key's id, and the database checks the key is live on every
statement (migration 0010). Archiving takes effect at once for data; within
the window the request is still authenticated and sees no rows. Unknown keys
are not cached (a new key works at once), so each costs one query: rate-limit
the door if that matters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from sqlalchemy import Engine

from tenantkit.errors import Unauthorized
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._api_keys import ApiKeys
from tenantkit.tokens import ORG_KEY_PREFIX, ApiKeyPrincipal, VerifiedTokenCache

__all__ = ["OrgApiKeyVerifier"]

#: Every secret tenantkit makes is 50 characters; a longer one is never hashed or looked up.
_MAX_LENGTH: Final = 200


class OrgApiKeyVerifier:
    """Validates org API keys against the database, with a short positive cache."""

    def __init__(
        self,
        engine: Engine,
        *,
        cache_seconds: float = 5.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if cache_seconds < 0:
            raise ValueError("cache_seconds must not be negative")
        self._engine = engine
        self._ttl = cache_seconds
        self._clock = clock
        self._cache = VerifiedTokenCache(max_entries)

    def __repr__(self) -> str:
        return f"OrgApiKeyVerifier(engine={self._engine!r}, cache_seconds={self._ttl})"

    def is_api_key(self, credential: str) -> bool:
        """An org key's secret starts `tk_org_`; a JWT never does."""
        return credential.startswith(ORG_KEY_PREFIX)

    def verify_api_key(self, secret: str) -> ApiKeyPrincipal:
        """The key's principal; `Unauthorized` if unknown, archived, expired or not an org key."""
        found = self._cached(secret)
        return found if found is not None else self._lookup(secret)

    async def verify_api_key_async(self, secret: str) -> ApiKeyPrincipal:
        """The same; a lookup runs on a worker thread, never on the event loop."""
        found = self._cached(secret)
        if found is not None:
            return found
        return await asyncio.to_thread(self._lookup, secret)

    def clear(self) -> None:
        """Forget every remembered key."""
        self._cache.clear()

    def _cached(self, secret: str) -> ApiKeyPrincipal | None:
        if not self.is_api_key(secret) or len(secret) > _MAX_LENGTH or not secret.isascii():
            raise Unauthorized("invalid API key")
        hit = self._cache.get(VerifiedTokenCache.key(secret.encode()), self._clock())
        return hit if isinstance(hit, ApiKeyPrincipal) else None

    def _lookup(self, secret: str) -> ApiKeyPrincipal:
        with self._engine.begin() as conn:
            found = ApiKeys(conn, Actor.service()).validate(secret, kind="org")
        key, org = found.api_key, found.org
        assert key.org_id is not None  # an org key always has its org (a CHECK)
        expires = None if key.expires_at is None else int(key.expires_at.timestamp())
        principal = ApiKeyPrincipal.of(
            key.api_key_id, key.org_id, key.permissions, name=key.name,
            expires_at=expires, org_name=None if org is None else org.name,
        )
        if self._ttl > 0:
            until = int(self._clock() + self._ttl)
            self._cache.put(VerifiedTokenCache.key(secret.encode()), principal,
                            until if expires is None else min(until, expires))
        return principal
