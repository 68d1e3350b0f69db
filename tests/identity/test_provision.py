"""Just-in-time provisioning (opt-in): the first verified request of an unknown user
creates the user row and its provider link from the token, once, and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit.errors import Forbidden
from tenantkit.identity import IdentityResolver, ResolvingVerifier
from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier, WorkOSClaims
from tests.identity._support import WORKOS_ISSUER, link_workos, workos_id, workos_token


@pytest.fixture
def verifier(token_issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(issuer=WORKOS_ISSUER, jwks=token_issuer.jwks(), claims=WorkOSClaims())


def users_linked(db: TestDatabase, external: str) -> list[Any]:
    with psycopg.connect(db.conninfo("admin")) as conn:
        return conn.execute(
            "SELECT u.email, u.email_confirmed, u.user_id::text FROM tenantkit.users AS u"
            " JOIN tenantkit.user_identities AS i USING (user_id)"
            " WHERE i.provider = 'workos' AND i.external_id = %s",
            (external,),
        ).fetchall()


def test_off_by_default(
    verifier: TokenVerifier, service_engine: Engine, token_issuer: TokenIssuer,
    tenantkit_db: TestDatabase,
) -> None:
    resolver = IdentityResolver(provider="workos", engine=service_engine)
    user = workos_id("user")
    token = workos_token(token_issuer, user, None, email=f"{user.lower()}@example.com")
    with pytest.raises(Forbidden, match="not known"):
        ResolvingVerifier(verifier, resolver).verify(token)
    assert users_linked(tenantkit_db, user) == []


def test_the_first_request_creates_the_user_once(
    verifier: TokenVerifier, service_engine: Engine, token_issuer: TokenIssuer,
    tenantkit_db: TestDatabase,
) -> None:
    resolver = IdentityResolver(provider="workos", engine=service_engine, provision=True)
    seam = ResolvingVerifier(verifier, resolver)
    user = workos_id("user")
    email = f"{user.lower()}@example.com"
    token = workos_token(token_issuer, user, None, email=email, email_verified=True)
    first = seam.verify(token)
    assert first.external_user_id == user
    assert users_linked(tenantkit_db, user) == [(email, True, first.user_id)]
    resolver.invalidate_all()  # a second process, or after expiry: found, not created again
    assert seam.verify(token).user_id == first.user_id
    assert len(users_linked(tenantkit_db, user)) == 1


async def test_concurrent_first_requests_create_one_user(
    verifier: TokenVerifier, service_engine: Engine, token_issuer: TokenIssuer,
    tenantkit_db: TestDatabase,
) -> None:
    user = workos_id("user")
    token = workos_token(token_issuer, user, None, email=f"{user.lower()}@example.com")

    def one() -> str:
        resolver = IdentityResolver(provider="workos", engine=service_engine, provision=True)
        return ResolvingVerifier(verifier, resolver).verify(token).user_id

    found = await asyncio.gather(*(asyncio.to_thread(one) for _ in range(4)),
                                 return_exceptions=True)
    ids = {f for f in found if isinstance(f, str)}
    assert len(ids) == 1, found  # every winner and loser agrees on one row
    assert len(users_linked(tenantkit_db, user)) == 1


def test_no_email_or_a_taken_email_is_refused_and_nothing_is_written(
    verifier: TokenVerifier, service_engine: Engine, token_issuer: TokenIssuer,
    tenantkit_db: TestDatabase, make_seed: Any,
) -> None:
    seed: TwoOrgs = make_seed()
    link_workos(service_engine, seed)
    resolver = IdentityResolver(provider="workos", engine=service_engine, provision=True)
    seam = ResolvingVerifier(verifier, resolver)
    nobody = workos_id("user")
    with pytest.raises(Forbidden, match="no email"):
        seam.verify(workos_token(token_issuer, nobody, None))
    # Never linked by email: that would hand an existing account to whoever
    # controls a provider account with the same address.
    taken = seed.emails[seed.a.owner_id]
    with pytest.raises(Forbidden, match="email is taken"):
        seam.verify(workos_token(token_issuer, nobody, None, email=taken))
    assert users_linked(tenantkit_db, nobody) == []


def test_a_provisioned_user_binds_nothing_until_a_membership_exists(
    verifier: TokenVerifier, service_engine: Engine, token_issuer: TokenIssuer,
    make_seed: Any,
) -> None:
    seed: TwoOrgs = make_seed()
    linked = link_workos(service_engine, seed)
    resolver = IdentityResolver(provider="workos", engine=service_engine, provision=True)
    user = workos_id("user")
    token = workos_token(token_issuer, user, linked.of(seed.a.org_id), role="admin",
                         email=f"{user.lower()}@example.com")
    principal = ResolvingVerifier(verifier, resolver).verify(token)
    # The token claims org A; the user row exists, but no membership: the
    # database's check (tests/identity/test_seam.py) returns no rows for it.
    assert principal.active_org_id == seed.a.org_id
    with service_engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(
            text("SELECT count(*) FROM tenantkit.memberships WHERE user_id = :u"),
            {"u": principal.user_id},
        ).scalar() == 0
