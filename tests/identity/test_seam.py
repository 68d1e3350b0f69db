"""The identity seam end to end: WorkOS ids through TenantMiddleware bind like UUIDs.

Seeded data of two orgs (tests/conftest.py `notes`), each user and org linked to
WorkOS ids. The same requests, once with tenantkit-shaped (UUID) tokens and once
with WorkOS tokens, must see exactly the same rows; unknown provider ids are 403
with nothing bound and no app-role connection taken.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantkit import current_context
from tenantkit.identity import IdCache, IdentityResolver, ResolvingVerifier
from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.tokens import OrgMemberInfo, TokenIssuer, TokenVerifier, Verifier, WorkOSClaims
from tenantkit.web import TenantMiddleware, active_org
from tests.identity._support import WORKOS_ISSUER, Linked, link_workos, workos_id, workos_token
from tests.web.conftest import CheckoutCounter


def notes_app(verifier: Verifier, engine: Engine) -> Any:
    def notes(request: Request) -> JSONResponse:
        ctx = current_context()
        with Session(engine) as session:
            rows = session.execute(text("SELECT org_id::text, body FROM public.notes")).all()
        return JSONResponse(
            {
                "bound": None if ctx is None else [ctx.user_id, ctx.org_id],
                "orgs": sorted({r.org_id for r in rows}),
                "count": len(rows),
            }
        )

    app = Starlette(routes=[Route("/notes", notes)])
    return TenantMiddleware(app, verifier=verifier, org_id=active_org())


async def get(app: Any, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/notes", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def linked(fresh_orgs: TwoOrgs, service_engine: Engine) -> Linked:
    return link_workos(service_engine, fresh_orgs)


@pytest.fixture
def workos_verifier(token_issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(
        issuer=WORKOS_ISSUER,
        jwks=token_issuer.jwks(),
        claims=WorkOSClaims(role_hierarchy=["owner", "admin", "member"]),
    )


@pytest.fixture
def resolver(service_engine: Engine) -> IdentityResolver:
    return IdentityResolver(provider="workos", engine=service_engine)


def uuid_token(issuer: TokenIssuer, user_id: str, org_id: str) -> str:
    return issuer.issue(
        user_id=user_id, orgs=[OrgMemberInfo(org_id, "Member")], active_org_id=org_id
    )


def cases(seed: TwoOrgs) -> list[tuple[str, str]]:
    """(user, org) pairs: members of their org, the shared user in both, and non-members."""
    return [
        (seed.a.owner_id, seed.a.org_id),
        (seed.a.member_id, seed.a.org_id),
        (seed.b.admin_id, seed.b.org_id),
        (seed.shared_user_id, seed.a.org_id),
        (seed.shared_user_id, seed.b.org_id),
        (seed.a.member_id, seed.b.org_id),  # not a member: the database binds nothing
        (seed.b.owner_id, seed.a.org_id),
    ]


async def test_workos_tokens_see_exactly_what_uuid_tokens_see(
    linked: Linked,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    workos_verifier: TokenVerifier,
    resolver: IdentityResolver,
    app_engine: Engine,
) -> None:
    by_uuid = notes_app(token_verifier, app_engine)
    by_workos = notes_app(ResolvingVerifier(workos_verifier, resolver), app_engine)
    seed = linked.seed
    for user_id, org_id in cases(seed):
        plain = await get(by_uuid, uuid_token(token_issuer, user_id, org_id))
        external = await get(
            by_workos, workos_token(token_issuer, linked.of(user_id), linked.of(org_id))
        )
        assert plain.status_code == external.status_code == 200
        assert external.json() == plain.json(), (user_id, org_id)
        assert external.json()["bound"] == [user_id, org_id]
        member = (user_id, org_id) not in cases(seed)[-2:]
        assert external.json()["orgs"] == ([org_id] if member else [])


async def test_without_the_seam_a_workos_token_cannot_bind(
    linked: Linked, token_issuer: TokenIssuer, workos_verifier: TokenVerifier, app_engine: Engine
) -> None:
    # The protection switched off: the raw provider ids reach TenantContext and fail (400).
    seed = linked.seed
    token = workos_token(token_issuer, linked.of(seed.a.owner_id), linked.of(seed.a.org_id))
    response = await get(notes_app(workos_verifier, app_engine), token)
    assert response.status_code == 400


@pytest.mark.parametrize("unknown", ["user", "org", "both"])
async def test_unknown_external_ids_are_refused_before_any_checkout(
    unknown: str,
    linked: Linked,
    token_issuer: TokenIssuer,
    workos_verifier: TokenVerifier,
    resolver: IdentityResolver,
    tenantkit_db: TestDatabase,
) -> None:
    from tenantkit import create_engine

    engine = create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    counter = CheckoutCounter(engine)
    seed = linked.seed
    user = workos_id("user") if unknown in ("user", "both") else linked.of(seed.a.owner_id)
    org = workos_id("org") if unknown in ("org", "both") else linked.of(seed.a.org_id)
    app = notes_app(ResolvingVerifier(workos_verifier, resolver), engine)
    response = await get(app, workos_token(token_issuer, user, org))
    assert response.status_code == 403
    assert counter.count == 0
    engine.dispose()


async def test_a_removed_membership_stops_on_the_next_request_despite_the_cache(
    linked: Linked,
    token_issuer: TokenIssuer,
    workos_verifier: TokenVerifier,
    resolver: IdentityResolver,
    app_engine: Engine,
    service_engine: Engine,
) -> None:
    seed = linked.seed
    app = notes_app(ResolvingVerifier(workos_verifier, resolver), app_engine)
    token = workos_token(token_issuer, linked.of(seed.a.member_id), linked.of(seed.a.org_id))
    assert (await get(app, token)).json()["orgs"] == [seed.a.org_id]
    assert len(resolver.cache) == 2  # the user and the org, cached
    with service_engine.begin() as conn:
        conn.execute(
            text("DELETE FROM tenantkit.memberships WHERE org_id = :o AND user_id = :u"),
            {"o": seed.a.org_id, "u": seed.a.member_id},
        )
    assert (await get(app, token)).json()["orgs"] == []


def test_a_warm_resolution_needs_no_round_trip(
    linked: Linked, token_issuer: TokenIssuer, workos_verifier: TokenVerifier,
    service_engine: Engine,
) -> None:
    queries: list[str] = []
    from sqlalchemy import event

    def count(*args: Any) -> None:
        queries.append(str(args[2]))

    resolver = IdentityResolver(provider="workos", engine=service_engine)
    verifier = ResolvingVerifier(workos_verifier, resolver)
    seed = linked.seed
    token = workos_token(token_issuer, linked.of(seed.b.admin_id), linked.of(seed.b.org_id))
    event.listen(service_engine, "before_cursor_execute", count)
    try:
        first = verifier.verify(token)
        assert len(queries) == 1
        for _ in range(5):
            assert verifier.verify(token) == first
        assert len(queries) == 1
    finally:
        event.remove(service_engine, "before_cursor_execute", count)
    assert first.user_id == seed.b.admin_id
    assert first.external_user_id == linked.of(seed.b.admin_id)
    assert first.active_org_id == seed.b.org_id
    org = first.get_org(seed.b.org_id)
    assert org is not None and org.external_org_id == linked.of(seed.b.org_id)


async def test_async_engine_and_uuid_passthrough(
    linked: Linked, token_issuer: TokenIssuer, workos_verifier: TokenVerifier,
    async_app_engine: AsyncEngine, tenantkit_db: TestDatabase, token_verifier: TokenVerifier,
) -> None:
    from tenantkit import create_async_engine

    service = create_async_engine(tenantkit_db.url("service"))
    try:
        resolver = IdentityResolver(provider="workos", async_engine=service)
        seed = linked.seed
        verifier = ResolvingVerifier(workos_verifier, resolver)
        principal = await verifier.verify_async(
            workos_token(token_issuer, linked.of(seed.a.admin_id), linked.of(seed.a.org_id))
        )
        assert (principal.user_id, principal.active_org_id) == (seed.a.admin_id, seed.a.org_id)
        # A UUID token passes through untouched (no lookup, the same object).
        plain = ResolvingVerifier(token_verifier, resolver)
        token = uuid_token(token_issuer, seed.a.admin_id, seed.a.org_id)
        assert await plain.verify_async(token) is token_verifier.verify(token)
    finally:
        await service.dispose()


def test_no_uuid_passthrough_resolves_uuid_shaped_provider_ids(
    linked: Linked, service_engine: Engine, token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    # A provider whose own ids are UUIDs (Keycloak, Supabase): a tenantkit-looking
    # id is not trusted as tenantkit's, it must be linked.
    resolver = IdentityResolver(provider="keycloak", engine=service_engine, uuid_passthrough=False)
    seed = linked.seed
    token = uuid_token(token_issuer, seed.a.owner_id, seed.a.org_id)
    with pytest.raises(Exception, match="not known"):
        ResolvingVerifier(token_verifier, resolver).verify(token)


def test_a_user_link_is_never_repointed(
    linked: Linked, service_engine: Engine, owner_engine: Engine
) -> None:
    # A cached "external id -> user_id" can then never name another person.
    import sqlalchemy.exc

    seed = linked.seed
    repoint = text("UPDATE tenantkit.user_identities SET user_id = :u WHERE external_id = :e")
    params = {"u": seed.b.owner_id, "e": linked.of(seed.a.owner_id)}
    for engine, refusal in ((service_engine, "permission denied"), (owner_engine, "re-pointed")):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match=refusal), engine.begin() as conn:
            conn.execute(repoint, params)


def test_the_app_role_cannot_read_links(
    linked: Linked, app_engine: Engine
) -> None:
    import sqlalchemy.exc

    from tenantkit import tenant_context

    seed = linked.seed
    with tenant_context(seed.a.context(seed.a.owner_id)), pytest.raises(
        sqlalchemy.exc.ProgrammingError, match="permission denied"
    ), app_engine.begin() as conn:
        conn.execute(text("SELECT * FROM tenantkit.user_identities"))


def test_the_cache_is_bounded_and_expires() -> None:
    now = [0.0]
    cache = IdCache(size=2, ttl=10, clock=lambda: now[0])
    cache.put(("user", "p", "a"), "1")
    cache.put(("user", "p", "b"), "2")
    cache.put(("user", "p", "c"), "3")
    assert len(cache) == 2 and cache.get(("user", "p", "a")) is None
    now[0] = 11
    assert cache.get(("user", "p", "c")) is None
    cache.put(("user", "p", "d"), "4")
    cache.invalidate(("user", "p", "d"))
    assert cache.get(("user", "p", "d")) is None


@pytest.mark.parametrize("provider", ["auth0", "keycloak"])
async def test_other_providers_bind_through_the_seam(
    provider: str, fresh_orgs: TwoOrgs, service_engine: Engine, token_issuer: TokenIssuer,
    app_engine: Engine,
) -> None:
    # Auth0's `auth0|…` ids; Keycloak's own UUIDs, which must not pass as tenantkit's.
    import secrets
    import time
    import uuid as uuid_module

    from tenantkit.tokens import Auth0Claims, KeycloakClaims

    seed = fresh_orgs
    user, org = seed.a.admin_id, seed.a.org_id
    if provider == "auth0":
        ext_user, ext_org = f"auth0|{secrets.token_hex(12)}", "org_" + secrets.token_hex(8)
        adapter: Any = Auth0Claims()
    else:
        ext_user, ext_org = str(uuid_module.uuid4()), str(uuid_module.uuid4())
        adapter = KeycloakClaims()
    with service_engine.begin() as conn:
        conn.execute(text("UPDATE tenantkit.orgs SET external_id = :e WHERE org_id = :o"),
                     {"e": ext_org, "o": org})
        conn.execute(text("INSERT INTO tenantkit.user_identities VALUES (:p, :e, :u)"),
                     {"p": provider, "e": ext_user, "u": user})
    now = int(time.time())
    claims: dict[str, Any] = {"iss": "https://idp.test/", "sub": ext_user, "iat": now,
                              "exp": now + 60}
    if provider == "auth0":
        claims["org_id"] = ext_org
    else:
        claims["organization"] = {"acme": {"id": ext_org}}
    resolver = IdentityResolver(provider=provider, engine=service_engine,
                                uuid_passthrough=provider != "keycloak")
    verifier = ResolvingVerifier(
        TokenVerifier(issuer="https://idp.test/", jwks=token_issuer.jwks(), claims=adapter),
        resolver,
    )
    seen = (await get(notes_app(verifier, app_engine), token_issuer.sign(claims))).json()
    assert seen["bound"] == [user, org] and seen["orgs"] == [org]
