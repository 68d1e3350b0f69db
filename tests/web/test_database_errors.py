"""Database errors a handler lets through, answered by `init_app` (FastAPI and Flask).

Before: a unique violation in an app table was a 500 that also reset the
client's connection, and a missing GRANT answered "403 the database refused
this operation". Now: 23505 -> 409 and 23503 -> 404/409 naming the constraint,
a missing GRANT -> 500 with a log line saying so, a policy's refusal -> 403 logged.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations,
# which name a local `tk`.
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import psycopg
import pytest
from fastapi import Depends, FastAPI
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.web.fastapi import TenantKit
from tenantkit.web.flask import TenantKit as FlaskTenantKit
from tests.web._support import bearer, mint

DDL = """
CREATE TABLE public.tags (
    org_id uuid NOT NULL DEFAULT tenantkit.current_org_id(),
    id     uuid NOT NULL DEFAULT gen_random_uuid(),
    name   text NOT NULL,
    PRIMARY KEY (org_id, id),
    CONSTRAINT tags_name_per_org UNIQUE (org_id, name)
);
CREATE TABLE public.tagged (
    org_id uuid NOT NULL DEFAULT tenantkit.current_org_id(),
    tag_id uuid NOT NULL,
    CONSTRAINT tagged_tag FOREIGN KEY (org_id, tag_id) REFERENCES public.tags (org_id, id)
);
CREATE TABLE public.ungranted (org_id uuid NOT NULL, body text);
"""


@pytest.fixture(scope="module")
def tables(tenantkit_db: TestDatabase, notes: TwoOrgs) -> TwoOrgs:
    app = f'"{tenantkit_db.roles.app}"'
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(DDL)
        for table in ("tags", "tagged"):
            conn.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
            conn.execute(f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY")
            conn.execute(
                f"CREATE POLICY tenant ON public.{table} AS RESTRICTIVE FOR ALL TO {app} "
                "USING (org_id = (SELECT tenantkit.current_org_id())) "
                "WITH CHECK (org_id = (SELECT tenantkit.current_org_id()))"
            )
            conn.execute(f"CREATE POLICY everyone ON public.{table} TO {app} USING (true)")
            conn.execute(f"GRANT SELECT, INSERT, DELETE ON public.{table} TO {app}")
    return notes


def _run(session: Session, sql: str, **params: Any) -> dict[str, Any]:
    result = session.execute(text(sql), params)
    row = result.first() if result.returns_rows else None
    return {"ok": True, "id": None if row is None else str(row[0])}


def fastapi_app(verifier: TokenVerifier, engine: Engine) -> FastAPI:
    app = FastAPI()
    tk = TenantKit(verifier, sessions=sessionmaker(engine))
    tk.init_app(app)
    SessionDep = Annotated[Session, Depends(tk.session)]

    @app.post("/org/{org_id}/tags/{name}")
    def add_tag(org_id: str, name: str, session: SessionDep) -> dict[str, Any]:
        return _run(session, "INSERT INTO tags (name) VALUES (:n) RETURNING id", n=name)

    @app.post("/org/{org_id}/tagged/{tag_id}")
    def tag(org_id: str, tag_id: str, session: SessionDep) -> dict[str, Any]:
        return _run(session, "INSERT INTO tagged (tag_id) VALUES (:t)", t=tag_id)

    @app.delete("/org/{org_id}/tags/{tag_id}")
    def delete_tag(org_id: str, tag_id: str, session: SessionDep) -> dict[str, Any]:
        return _run(session, "DELETE FROM tags WHERE id = :t", t=tag_id)

    @app.get("/org/{org_id}/ungranted")
    def ungranted(org_id: str, session: SessionDep) -> dict[str, Any]:
        return _run(session, "SELECT body FROM ungranted")

    @app.post("/org/{org_id}/elsewhere/{other}")
    def elsewhere(org_id: str, other: str, session: SessionDep) -> dict[str, Any]:
        return _run(session, "INSERT INTO tags (org_id, name) VALUES (:o, 'x')", o=other)

    return app


@pytest.fixture
async def client(
    tables: TwoOrgs, token_verifier: TokenVerifier, app_engine: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fastapi_app(token_verifier, app_engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def headers(tables: TwoOrgs, token_issuer: TokenIssuer) -> dict[str, str]:
    return bearer(mint(token_issuer, tables.a.member_id, {tables.a.org_id: "Member"}))


async def test_unique_violation_is_409_naming_the_constraint(
    client: httpx.AsyncClient, tables: TwoOrgs, headers: dict[str, str]
) -> None:
    org = tables.a.org_id
    first = await client.post(f"/org/{org}/tags/dup-{id(client)}", headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post(f"/org/{org}/tags/dup-{id(client)}", headers=headers)
    assert again.status_code == 409
    assert again.json() == {
        "error": "constraint_violation",
        "message": "a row with the same key already exists (tags_name_per_org)",
        "constraint": "tags_name_per_org",
    }
    # The same client goes on: nothing was reset.
    assert (await client.post(f"/org/{org}/tags/next-{id(client)}", headers=headers)).is_success


async def test_foreign_key_violations_are_404_and_409(
    client: httpx.AsyncClient, tables: TwoOrgs, headers: dict[str, str]
) -> None:
    org = tables.a.org_id
    missing = await client.post(
        f"/org/{org}/tagged/00000000-0000-4000-8000-000000000000", headers=headers
    )
    assert missing.status_code == 404
    assert missing.json()["constraint"] == "tagged_tag"
    assert missing.json()["error"] == "missing_reference"
    tag = (await client.post(f"/org/{org}/tags/fk-{id(client)}", headers=headers)).json()["id"]
    assert (await client.post(f"/org/{org}/tagged/{tag}", headers=headers)).is_success
    referenced = await client.delete(f"/org/{org}/tags/{tag}", headers=headers)
    assert referenced.status_code == 409
    assert referenced.json()["message"] == "the row is still referenced (tagged_tag)"


async def test_a_missing_grant_is_a_500_with_a_log_line(
    client: httpx.AsyncClient,
    tables: TwoOrgs,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="tenantkit.web"):
        response = await client.get(f"/org/{tables.a.org_id}/ungranted", headers=headers)
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal error"}
    [record] = caplog.records
    assert "lacks a privilege (permission denied for table ungranted)" in record.getMessage()
    assert "a missing GRANT, not a tenant refusal" in record.getMessage()


async def test_a_policy_refusal_is_403_logged_with_the_table(
    client: httpx.AsyncClient,
    tables: TwoOrgs,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tenantkit.web"):
        response = await client.post(
            f"/org/{tables.a.org_id}/elsewhere/{tables.b.org_id}", headers=headers
        )
    assert response.status_code == 403
    [record] = caplog.records
    assert 'row-level security policy "tenant" for table "tags"' in record.getMessage()


@pytest.fixture
def flask_client(
    tables: TwoOrgs, token_verifier: TokenVerifier, app_engine: Engine
) -> Any:
    app = Flask(__name__)
    tk = FlaskTenantKit(app, verifier=token_verifier, sessions=sessionmaker(app_engine))

    @app.post("/org/<org_id>/tags/<name>")
    @tk.require_org_member()
    def add_tag(org_id: str, name: str) -> dict[str, Any]:
        return _run(tk.session(), "INSERT INTO tags (name) VALUES (:n) RETURNING id", n=name)

    return app.test_client()


def test_flask_answers_the_same(
    flask_client: Any, tables: TwoOrgs, headers: dict[str, str]
) -> None:
    path = f"/org/{tables.a.org_id}/tags/flask-{id(flask_client)}"
    assert flask_client.post(path, headers=headers).status_code == 200
    again = flask_client.post(path, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["constraint"] == "tags_name_per_org"
