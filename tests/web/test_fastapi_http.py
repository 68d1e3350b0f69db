"""FastAPI over HTTP (httpx's ASGI transport), against real PostgreSQL rows.

Two apps: one with TenantMiddleware in front, one with the dependencies alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tests.conftest import NOTES_PER_ORG
from tests.web._support import bearer, build_app, mint

Superuser = psycopg.Connection[tuple[object, ...]]


@pytest.fixture(params=["middleware", "dependencies"])
async def client(
    request: pytest.FixtureRequest,
    notes: TwoOrgs,
    token_verifier: TokenVerifier,
    app_sessions: sessionmaker[Session],
    async_app_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(
        token_verifier,
        sessions=app_sessions,
        async_sessions=async_app_sessions,
        middleware=request.param == "middleware",
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("path", ["notes", "anotes"])
async def test_each_org_sees_only_its_rows(
    client: httpx.AsyncClient, notes: TwoOrgs, token_issuer: TokenIssuer, path: str
) -> None:
    shared = mint(
        token_issuer, notes.shared_user_id, {notes.a.org_id: "Member", notes.b.org_id: "Admin"}
    )
    for org in (notes.a, notes.b):
        response = await client.get(f"/org/{org.org_id}/{path}", headers=bearer(shared))
        assert response.status_code == 200, response.text
        rows = response.json()
        assert len(rows) >= NOTES_PER_ORG
        assert {row["org_id"] for row in rows} == {org.org_id}


async def test_other_orgs_path_is_403(
    client: httpx.AsyncClient, notes: TwoOrgs, token_issuer: TokenIssuer
) -> None:
    token = mint(token_issuer, notes.a.member_id, {notes.a.org_id: "Member"})
    response = await client.get(f"/org/{notes.b.org_id}/notes", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


async def test_missing_and_bad_tokens_are_401_json(
    client: httpx.AsyncClient, notes: TwoOrgs
) -> None:
    for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic eA=="}):
        response = await client.get(f"/org/{notes.a.org_id}/notes", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_write_lands_in_the_bound_org(
    client: httpx.AsyncClient,
    fresh_orgs: TwoOrgs,
    token_issuer: TokenIssuer,
    count_notes: Callable[[str], int],
) -> None:
    org = fresh_orgs.a
    token = mint(token_issuer, org.member_id, {org.org_id: "Member"})
    before = count_notes(org.org_id)
    response = await client.post(
        f"/org/{org.org_id}/notes", json={"body": "hello"}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    assert count_notes(org.org_id) == before + 1


async def test_write_into_another_org_is_refused_by_the_database(
    client: httpx.AsyncClient,
    fresh_orgs: TwoOrgs,
    token_issuer: TokenIssuer,
    count_notes: Callable[[str], int],
) -> None:
    # Bound to A, the handler inserts a row for B: RLS refuses it (42501), answered 403.
    a, b = fresh_orgs.a, fresh_orgs.b
    token = mint(token_issuer, a.member_id, {a.org_id: "Member"})
    before_a, before_b = count_notes(a.org_id), count_notes(b.org_id)
    response = await client.post(
        f"/org/{a.org_id}/notes",
        params={"into": b.org_id},
        json={"body": "x"},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert (count_notes(a.org_id), count_notes(b.org_id)) == (before_a, before_b)
