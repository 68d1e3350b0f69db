"""Invariants 3 and 4 over HTTP.

3: a bad token never reaches the database and never takes a pool connection,
   shown with the pool exhausted (its only connection held by the test).
4: a handler that raises mid-transaction leaves no partial write and no
   context on the connection that goes back to the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.web.flask import TenantKit as FlaskTenantKit
from tests.web._support import bearer, build_app, mint
from tests.web.conftest import CheckoutCounter

BAD_HEADERS = [
    {},
    {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
    {"Authorization": "Token abc"},
]


def flask_notes_app(verifier: TokenVerifier, engine: Engine) -> Flask:
    app = Flask(__name__)
    tk = FlaskTenantKit(verifier=verifier, sessions=sessionmaker(engine))
    # No startup check: one test builds this app while the pool is held exhausted.
    tk.init_app(app, check_database=False)

    @app.get("/org/<org_id>/notes")
    @tk.require_org_member()
    def list_notes(org_id: str) -> list[dict[str, Any]]:
        rows = tk.session().execute(text("SELECT org_id::text, body FROM public.notes"))
        return [dict(row._mapping) for row in rows]

    @app.post("/org/<org_id>/notes/fail")
    @tk.require_org_member()
    def fail(org_id: str) -> None:
        tk.session().execute(
            text("INSERT INTO public.notes (org_id, body) VALUES (:org, 'partial')"),
            {"org": org_id},
        )
        raise RuntimeError("the handler failed after writing")

    return app


@pytest.fixture
async def asgi_clients(
    notes: TwoOrgs,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    small_async_engine: AsyncEngine,
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    clients = {}
    for mode in ("middleware", "dependencies"):
        app = build_app(
            token_verifier,
            sessions=sessionmaker(small_engine),
            async_sessions=async_sessionmaker(small_async_engine),
            middleware=mode == "middleware",
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        clients[mode] = httpx.AsyncClient(transport=transport, base_url="http://test")
    yield clients
    for client in clients.values():
        await client.aclose()


@pytest.fixture
async def held(small_engine: Engine, small_async_engine: AsyncEngine) -> AsyncIterator[None]:
    """Both pools exhausted: their only connections are checked out by the test."""
    with small_engine.connect() as sync_conn:
        sync_conn.exec_driver_sql("SELECT 1")
        async with small_async_engine.connect() as async_conn:
            await async_conn.exec_driver_sql("SELECT 1")
            yield


async def test_bad_token_takes_no_connection_from_an_exhausted_pool(
    asgi_clients: dict[str, httpx.AsyncClient],
    notes: TwoOrgs,
    small_engine: Engine,
    small_async_engine: AsyncEngine,
    token_verifier: TokenVerifier,
    held: None,
) -> None:
    sync_pool, async_pool = small_engine.pool, small_async_engine.sync_engine.pool
    counters = CheckoutCounter(small_engine), CheckoutCounter(small_async_engine.sync_engine)
    assert sync_pool.checkedout() == 1 and async_pool.checkedout() == 1  # type: ignore[attr-defined]
    for client in asgi_clients.values():
        for path in ("notes", "anotes"):
            for headers in BAD_HEADERS:
                response = await client.get(f"/org/{notes.a.org_id}/{path}", headers=headers)
                # Answered at once: waiting on the pool would have timed out into a 500.
                assert response.status_code == 401, response.text
    flask = flask_notes_app(token_verifier, small_engine).test_client()
    for headers in BAD_HEADERS:
        assert flask.get(f"/org/{notes.a.org_id}/notes", headers=headers).status_code == 401
    assert [c.count for c in counters] == [0, 0]


async def test_a_valid_token_does_use_the_pool(
    asgi_clients: dict[str, httpx.AsyncClient],
    notes: TwoOrgs,
    small_engine: Engine,
    token_issuer: TokenIssuer,
) -> None:
    # The counter's control: the same request with a valid token checks out a connection.
    counter = CheckoutCounter(small_engine)
    token = mint(token_issuer, notes.a.member_id, {notes.a.org_id: "Member"})
    response = await asgi_clients["middleware"].get(
        f"/org/{notes.a.org_id}/notes", headers=bearer(token)
    )
    assert response.status_code == 200
    assert counter.count == 1


def pooled_connection_state(engine: Engine) -> tuple[object, ...]:
    """What the next checkout of the (single) pooled connection carries."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT current_setting('tenantkit.org_id', true), "
                "current_setting('tenantkit.user_id', true)"
            )
        ).one()
        conn.rollback()
    return tuple(row)


@pytest.mark.parametrize("path", ["notes/fail", "anotes/fail"])
@pytest.mark.parametrize("mode", ["middleware", "dependencies"])
async def test_failing_handler_leaves_no_partial_write_and_no_context(
    asgi_clients: dict[str, httpx.AsyncClient],
    notes: TwoOrgs,
    small_engine: Engine,
    small_async_engine: AsyncEngine,
    token_issuer: TokenIssuer,
    count_notes: Callable[[str], int],
    path: str,
    mode: str,
) -> None:
    org = notes.a
    token = mint(token_issuer, org.member_id, {org.org_id: "Member"})
    before = count_notes(org.org_id)
    response = await asgi_clients[mode].post(
        f"/org/{org.org_id}/{path}", json={"body": "partial"}, headers=bearer(token)
    )
    assert response.status_code == 500
    assert count_notes(org.org_id) == before
    if path.startswith("anotes"):
        async with small_async_engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT current_setting('tenantkit.org_id', true)"))
            ).one()
        assert row[0] in ("", None)
    else:
        assert pooled_connection_state(small_engine) in (("", ""), (None, None))


def test_flask_failing_view_leaves_no_partial_write_and_no_context(
    notes: TwoOrgs,
    small_engine: Engine,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    count_notes: Callable[[str], int],
) -> None:
    org = notes.a
    app = flask_notes_app(token_verifier, small_engine)
    client = app.test_client()
    token = mint(token_issuer, org.member_id, {org.org_id: "Member"})
    before = count_notes(org.org_id)
    response = client.post(f"/org/{org.org_id}/notes/fail", headers=bearer(token))
    assert response.status_code == 500
    assert count_notes(org.org_id) == before
    assert pooled_connection_state(small_engine) in (("", ""), (None, None))
    rows = client.get(f"/org/{org.org_id}/notes", headers=bearer(token)).get_json()
    assert rows and {row["org_id"] for row in rows} == {org.org_id}
