"""The identity seam: a provider's identity → tenantkit's ids, before anything is bound.

    resolver = IdentityResolver(provider="workos", engine=service_engine)
    verifier = ResolvingVerifier(TokenVerifier(..., claims=WorkOSClaims()), resolver)
    app = TenantMiddleware(app, verifier=verifier, org_id=active_org())

`ResolvingVerifier` verifies the token as before, then maps the principal's ids:
- tenantkit UUIDs pass through unchanged (unless `uuid_passthrough=False`, for
  providers whose own ids are UUIDs: Keycloak, Supabase);
- a user id resolves through `tenantkit.user_identities` (provider, external id);
- an org id through `orgs.external_id`.
Every later step (org extractors, requirements, `TenantContext`, the bind) then
sees only tenantkit ids, and the principal keeps the provider's in
`external_user_id` / `OrgMemberInfo.external_org_id`.

Fail closed: an unknown user is `Forbidden` (403) unless `provision=True`
creates it from the token's claims; so is an unknown org the token is scoped
to (WorkOS's `org_id`, PropelAuth's `org_member_info`). An unknown org among
several (PropelAuth's org map) is dropped, so a request for it is refused as
"not a member" (403). Either way nothing is bound and no app-role connection
is taken.

Cost: ids are cached (`IdCache`, bounded, expiring, invalidated on change in
this process), so a warm request adds no round trip; a miss costs one query on
the *service-role* engine given here (the app role cannot look ids up: that
would be an oracle across orgs). The bind statement itself is unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantkit.context import UUID_PATTERN, tenant_context
from tenantkit.errors import Forbidden
from tenantkit.identity._cache import IdCache, Key
from tenantkit.sqlfiles import load_sql
from tenantkit.tokens import OrgMemberInfo, Principal, Verifier

__all__ = ["IdentityResolver", "ResolvingVerifier"]

_PROVIDER: Final = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_MAX_EXTERNAL_ID: Final = 255
#: How long a translated principal is reused (the token itself expires sooner or later).
_MEMO_TTL: Final = 60.0
_RESOLVE = text(load_sql("identity/resolve.sql"))
_PROVISION = text(load_sql("identity/provision_user.sql"))


@dataclasses.dataclass(frozen=True, slots=True)
class _Need:
    """What one principal needs looked up, after the cache answered what it could."""

    user: str | None  # the external user id, when not cached
    orgs: tuple[str, ...]  # external org ids not cached
    known: dict[Key, str]  # what the cache (then the lookup) answered


class IdentityResolver:
    """Maps provider ids in a `Principal` to tenantkit's; see the module docstring.

    provider: the provider's name in `user_identities` (e.g. "workos", "auth0").
    engine / async_engine: a service-role engine (non-strict) for lookups; with
        only `engine`, async callers run the lookup on a worker thread.
    provision: create an unknown user from the token (email, names) on first use.
    uuid_passthrough: treat canonical UUIDs as tenantkit's own ids (default);
        turn off for a provider whose ids are UUIDs of its own.
    """

    def __init__(
        self,
        *,
        provider: str,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
        provision: bool = False,
        uuid_passthrough: bool = True,
        cache: IdCache | None = None,
    ) -> None:
        if type(provider) is not str or not _PROVIDER.fullmatch(provider):
            raise ValueError("provider is a short lower-case name such as 'workos' or 'auth0'")
        if engine is None and async_engine is None:
            raise ValueError("pass a service-role engine or async_engine for lookups")
        self.provider = provider
        self._engine = engine
        self._async_engine = async_engine
        self._provision = provision
        self._passthrough = uuid_passthrough
        self.cache = cache if cache is not None else IdCache()
        # The verified-token cache hands back the same Principal object for the same
        # token, so a warm request's translation is memoised by that object's
        # identity (checked with `is`: an id() reused after collection never hits).
        self._memo: OrderedDict[int, tuple[Principal, Principal, float]] = OrderedDict()
        self._memo_size = 4096
        self._memo_ttl = _MEMO_TTL
        self._memo_lock = threading.Lock()

    # -- the sans-IO core -------------------------------------------------------

    def _is_own(self, value: str) -> bool:
        return self._passthrough and UUID_PATTERN.fullmatch(value) is not None

    def _user_key(self, external_id: str) -> Key:
        return ("user", self.provider, external_id)

    @staticmethod
    def _org_key(external_id: str) -> Key:
        return ("org", "", external_id)  # orgs.external_id is one namespace

    def _need(self, principal: Principal) -> _Need:
        known: dict[Key, str] = {}
        user = None
        if not self._is_own(principal.user_id):
            _check_external(principal.user_id)
            key = self._user_key(principal.user_id)
            hit = self.cache.get(key)
            if hit is None:
                user = principal.user_id
            else:
                known[key] = hit
        orgs = []
        for org_id in principal.org_id_to_org_member_info:
            if self._is_own(org_id) or len(org_id) > _MAX_EXTERNAL_ID:
                continue
            key = self._org_key(org_id)
            hit = self.cache.get(key)
            if hit is None:
                orgs.append(org_id)
            else:
                known[key] = hit
        return _Need(user, tuple(orgs), known)

    def _remember(self, need: _Need, rows: Sequence[Any]) -> None:
        for kind, external_id, found in rows:
            key = self._user_key(external_id) if kind == "user" else self._org_key(external_id)
            need.known[key] = str(found)
            self.cache.put(key, str(found))

    def _unknown_user(self, need: _Need) -> bool:
        return need.user is not None and self._user_key(need.user) not in need.known

    def _params(self, need: _Need) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "user_external_id": need.user,
            "org_external_ids": list(need.orgs),
        }

    def _translate(self, principal: Principal, known: Mapping[Key, str]) -> Principal:
        """The principal with tenantkit ids, from what the cache and the lookup answered."""
        user_id = principal.user_id
        external_user = None
        if not self._is_own(user_id):
            found = known.get(self._user_key(user_id))
            if found is None:
                raise Forbidden("user is not known to tenantkit")
            external_user, user_id = user_id, found
        orgs: dict[str, OrgMemberInfo] = {}
        active = None
        for org_id, info in principal.org_id_to_org_member_info.items():
            mapped, external_org = org_id, None
            if not self._is_own(org_id):
                resolved = known.get(self._org_key(org_id))
                if resolved is None:
                    if org_id == principal.active_org_id:
                        # The org the token is scoped to: refuse, not fall back to "no org".
                        raise Forbidden("org is not known to tenantkit")
                    continue  # one of several orgs, unknown here: the user is no member of it
                mapped, external_org = resolved, org_id
            if mapped in orgs:
                raise Forbidden("token names one org under two ids")
            orgs[mapped] = dataclasses.replace(info, org_id=mapped, external_org_id=external_org)
            if org_id == principal.active_org_id:
                active = mapped
        if (
            external_user is None
            and len(orgs) == len(principal.org_id_to_org_member_info)
            and all(o.external_org_id is None for o in orgs.values())
        ):
            return principal  # nothing was external: the common case costs nothing
        return dataclasses.replace(
            principal,
            user_id=user_id,
            external_user_id=external_user,
            org_id_to_org_member_info=MappingProxyType(orgs),
            active_org_id=active,
        )

    def _provision_params(self, principal: Principal) -> dict[str, Any]:
        email = principal.email
        if email is None:
            raw = principal.claims.get("email")
            email = raw if type(raw) is str else None
        if not email:
            raise Forbidden("user is not known to tenantkit and the token carries no email")
        verified = principal.claims.get("email_verified")
        return {
            "provider": self.provider,
            "external_id": principal.user_id,
            "email": email,
            "email_confirmed": verified is True,
            "first_name": principal.first_name,
            "last_name": principal.last_name,
        }

    # -- the sync driver ----------------------------------------------------------

    def _memo_get(self, principal: Principal) -> Principal | None:
        with self._memo_lock:
            found = self._memo.get(id(principal))
            if found is None or found[0] is not principal:
                return None
            if found[2] <= time.monotonic():
                del self._memo[id(principal)]
                return None
            return found[1]

    def _memo_put(self, principal: Principal, resolved: Principal) -> Principal:
        expires = time.monotonic() + self._memo_ttl
        with self._memo_lock:
            self._memo[id(principal)] = (principal, resolved, expires)
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return resolved

    def resolve(self, principal: Principal) -> Principal:
        """The principal with tenantkit ids (one service-role query on a cache miss)."""
        hit = self._memo_get(principal)
        if hit is not None:
            return hit
        return self._memo_put(principal, self._resolve(principal))

    def _resolve(self, principal: Principal) -> Principal:
        need = self._need(principal)
        if need.user is not None or need.orgs:
            self._remember(need, self._lookup(need))
            if self._provision and self._unknown_user(need):
                self._provision_user(principal, need)
        return self._translate(principal, need.known)

    def _lookup(self, need: _Need) -> Sequence[Any]:
        engine = self._sync_engine()
        with tenant_context(None), engine.connect() as conn:
            rows = conn.execute(_RESOLVE, self._params(need)).all()
            conn.rollback()
        return rows

    def _provision_user(self, principal: Principal, need: _Need) -> None:
        params = self._provision_params(principal)
        engine = self._sync_engine()
        with tenant_context(None), engine.connect() as conn:
            try:
                created = conn.execute(_PROVISION, params).scalar_one_or_none()
            except IntegrityError as error:
                conn.rollback()
                raise _unprovisionable(error) from None
            if created is None:
                conn.rollback()  # another request linked it first: read theirs
            else:
                conn.commit()
                self._remember(need, [("user", principal.user_id, created)])
                return
        self._remember(need, self._lookup(_Need(principal.user_id, (), {})))

    def _sync_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("this resolver has only an async_engine: use resolve_async")
        return self._engine

    # -- the async driver ---------------------------------------------------------

    async def resolve_async(self, principal: Principal) -> Principal:
        """`resolve` for async code: the lookup is awaited, never run on the event loop."""
        hit = self._memo_get(principal)
        if hit is not None:
            return hit
        need = self._need(principal)
        if need.user is None and not need.orgs:
            return self._memo_put(principal, self._translate(principal, need.known))
        if self._async_engine is None:
            return await asyncio.to_thread(self.resolve, principal)
        self._remember(need, await self._lookup_async(need))
        if self._provision and self._unknown_user(need):
            await self._provision_user_async(principal, need)
        return self._memo_put(principal, self._translate(principal, need.known))

    async def _lookup_async(self, need: _Need) -> Sequence[Any]:
        assert self._async_engine is not None
        with tenant_context(None):
            async with self._async_engine.connect() as conn:
                rows = (await conn.execute(_RESOLVE, self._params(need))).all()
                await conn.rollback()
        return rows

    async def _provision_user_async(self, principal: Principal, need: _Need) -> None:
        assert self._async_engine is not None
        params = self._provision_params(principal)
        with tenant_context(None):
            async with self._async_engine.connect() as conn:
                try:
                    created = (await conn.execute(_PROVISION, params)).scalar_one_or_none()
                except IntegrityError as error:
                    await conn.rollback()
                    raise _unprovisionable(error) from None
                if created is not None:
                    await conn.commit()
                    self._remember(need, [("user", principal.user_id, created)])
                    return
                await conn.rollback()
        self._remember(need, await self._lookup_async(_Need(principal.user_id, (), {})))

    # -- invalidation -------------------------------------------------------------

    def invalidate_user(self, external_id: str) -> None:
        """Forget a user's cached id (its link or row was deleted)."""
        self.cache.invalidate(self._user_key(external_id))
        self._forget_memo()

    def invalidate_org(self, external_id: str) -> None:
        """Forget an org's cached id (its row was deleted or its external id changed)."""
        self.cache.invalidate(self._org_key(external_id))
        self._forget_memo()

    def invalidate_all(self) -> None:
        """Forget every cached id."""
        self.cache.clear()
        self._forget_memo()

    def _forget_memo(self) -> None:
        with self._memo_lock:
            self._memo.clear()


def _unprovisionable(error: IntegrityError) -> Forbidden:
    # Never linked to the existing user by email: see the README's provisioning notes.
    if getattr(error.orig, "sqlstate", None) == "23505":
        return Forbidden("user cannot be provisioned: the email is taken")
    return Forbidden("user cannot be provisioned: the token's email is not valid")


def _check_external(value: str) -> None:
    if not value or len(value) > _MAX_EXTERNAL_ID:
        raise Forbidden("user is not known to tenantkit")


class ResolvingVerifier:
    """A `Verifier`: verify with `verifier`, then map the ids with `resolver`."""

    def __init__(self, verifier: Verifier, resolver: IdentityResolver) -> None:
        if not isinstance(verifier, Verifier):
            raise TypeError("verifier must be a tenantkit.tokens.Verifier")
        self.verifier = verifier
        self.resolver = resolver

    def verify(self, token: str | bytes) -> Principal:
        """The verified principal, with tenantkit ids."""
        return self.resolver.resolve(self.verifier.verify(token))

    async def verify_async(self, token: str | bytes) -> Principal:
        """The same for async adapters; a lookup is awaited off the event loop."""
        return await self.resolver.resolve_async(await self.verifier.verify_async(token))


def external_ids(principal: Principal) -> Mapping[str, str]:
    """tenantkit org id -> the provider's org id, for the orgs that were resolved."""
    return {
        org_id: info.external_org_id
        for org_id, info in principal.org_id_to_org_member_info.items()
        if info.external_org_id is not None
    }
