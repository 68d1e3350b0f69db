"""200 concurrent requests alternating 20 orgs over a pool of 5 connections.

Every response must hold exactly its own org's rows: contexts never leak
between concurrent requests, nor through pooled connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from tenantkit import create_async_engine, create_engine
from tenantkit.testing import SeededOrg, TestDatabase, TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tests.conftest import NOTES_PER_ORG, add_notes
from tests.web._support import bearer, build_app, mint

REQUESTS = 200
ORGS = 20
POOL = 5


@pytest.fixture(scope="module")
def twenty_orgs(
    notes: TwoOrgs, make_seed: Callable[[], TwoOrgs], tenantkit_db: TestDatabase
) -> list[SeededOrg]:
    orgs: list[SeededOrg] = []
    for _ in range(ORGS // 2):
        pair = make_seed()
        add_notes(tenantkit_db, pair)
        orgs += [pair.a, pair.b]
    return orgs


@pytest.fixture
def pool_of_five(tenantkit_db: TestDatabase) -> Engine:
    return create_engine(tenantkit_db.url("app"), pool_size=POOL, max_overflow=0, pool_timeout=60)


@pytest.fixture
async def async_pool_of_five(tenantkit_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        tenantkit_db.url("app"), pool_size=POOL, max_overflow=0, pool_timeout=60
    )
    yield engine
    await engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("path", ["anotes", "notes"], ids=["async-session", "sync-session"])
async def test_concurrent_requests_see_only_their_org(
    twenty_orgs: list[SeededOrg],
    pool_of_five: Engine,
    async_pool_of_five: AsyncEngine,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    path: str,
) -> None:
    app = build_app(
        token_verifier,
        sessions=sessionmaker(pool_of_five),
        async_sessions=async_sessionmaker(async_pool_of_five),
    )
    tokens = {
        org.org_id: mint(token_issuer, org.member_id, {org.org_id: "Member"}) for org in twenty_orgs
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def one(i: int) -> tuple[str, httpx.Response]:
            org_id = twenty_orgs[i % ORGS].org_id
            response = await client.get(f"/org/{org_id}/{path}", headers=bearer(tokens[org_id]))
            return org_id, response

        results = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    try:
        assert len(results) == REQUESTS
        for org_id, response in results:
            assert response.status_code == 200, response.text
            rows = response.json()
            assert len(rows) == NOTES_PER_ORG
            assert {row["org_id"] for row in rows} == {org_id}
        pool = (async_pool_of_five.sync_engine if path == "anotes" else pool_of_five).pool
        assert pool.size() == POOL  # type: ignore[attr-defined]
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        pool_of_five.dispose()
