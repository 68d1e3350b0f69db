"""`tenantkit sync propelauth`: a backfill through propelauth-py, against `tenantkit serve`
itself acting as the provider (a database of its own, served over real HTTP).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy
import uvicorn
from click.testing import CliRunner

from tenantkit import migrate
from tenantkit.cli import main
from tenantkit.server import create_app
from tenantkit.server.cli import create_integration_key
from tenantkit.testing import (
    RunningServer,
    TestDatabase,
    TwoOrgs,
    provision_database,
    seed_two_orgs,
)
from tenantkit.tokens import TokenIssuer


@pytest.fixture(scope="module")
def provider_db(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


@pytest.fixture(scope="module")
def provider(provider_db: TestDatabase) -> Iterator[tuple[str, str, TwoOrgs, sqlalchemy.Engine]]:
    """(url, integration key, its seeded orgs, its service engine): `tenantkit serve`'s app."""
    engine = sqlalchemy.create_engine(provider_db.url("service"), pool_size=4)
    with engine.begin() as conn:
        seeded = seed_two_orgs(conn)
    key = create_integration_key(provider_db.url("service"), "backfill")
    app = create_app(engine, issuer=TokenIssuer.generate(issuer="https://provider.test"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}", key, seeded, engine
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def sync(url: str, key: str, db: TestDatabase) -> Any:
    result = CliRunner().invoke(main, [
        "sync", "propelauth", "--auth-url", url, "--backend-url", url, "--api-key", key,
        "--database-url", db.url("service").render_as_string(hide_password=False),
        "--page-size", "2",  # several pages of orgs and of users
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def members(db: TestDatabase, org_id: str) -> dict[str, str]:
    with psycopg.connect(db.conninfo("admin")) as conn:
        rows = conn.execute(
            "SELECT user_id::text, role FROM tenantkit.memberships WHERE org_id = %s", (org_id,)
        ).fetchall()
    return dict(rows)


def test_backfill_from_tenantkit_serve(
    provider: tuple[str, str, TwoOrgs, sqlalchemy.Engine], tenantkit_db: TestDatabase,
) -> None:
    url, key, seeded, provider_engine = provider
    out = sync(url, key, tenantkit_db)
    assert "synced 2 orgs and 7 users" in out
    a, b = seeded.a, seeded.b
    assert members(tenantkit_db, a.org_id) == {
        a.owner_id: "Owner", a.admin_id: "Admin", a.member_id: "Member",
        seeded.shared_user_id: "Member",
    }
    assert members(tenantkit_db, b.org_id)[seeded.shared_user_id] == "Admin"

    # The provider removes a member and promotes another: the next run follows.
    with provider_engine.begin() as conn:
        conn.execute(sqlalchemy.text(
            "DELETE FROM tenantkit.memberships WHERE org_id = :o AND user_id = :u"),
            {"o": a.org_id, "u": a.member_id})
        conn.execute(sqlalchemy.text(
            "UPDATE tenantkit.memberships SET role = 'Admin' WHERE org_id = :o AND user_id = :u"),
            {"o": b.org_id, "u": b.member_id})
    sync(url, key, tenantkit_db)
    assert a.member_id not in members(tenantkit_db, a.org_id)
    assert members(tenantkit_db, b.org_id)[b.member_id] == "Admin"
    # Nothing of the other tenants the destination already had was touched.
    assert len(members(tenantkit_db, a.org_id)) == 3


def test_a_wrong_key_is_a_clear_error(
    provider: tuple[str, str, TwoOrgs, sqlalchemy.Engine], tenantkit_db: TestDatabase,
) -> None:
    url, _, _, _ = provider
    result = CliRunner().invoke(main, [
        "sync", "propelauth", "--auth-url", url, "--backend-url", url, "--api-key", "nope",
        "--database-url", tenantkit_db.url("service").render_as_string(hide_password=False),
    ])
    assert result.exit_code != 0
    assert "Error" in result.output, result.output
