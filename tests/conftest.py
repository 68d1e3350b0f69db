"""Shared fixtures for tenantkit's own suite (the plugin provides the database)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from tenantkit.sqlfiles import render_sql
from tenantkit.testing import TestDatabase, TwoOrgs

#: The fixture app's database (tenant tables declared by an app, migrated with
#: tenantkit's autogenerate): shared by the tables, alembic and doctor tests;
#: and the org API keys with their tenant tables (db and web tests).
pytest_plugins = ["tests.tables.app.fixtures", "tests.key_tables"]

NOTES_PER_ORG = 3


@pytest.fixture(scope="session")
def notes(tenantkit_db: TestDatabase, seed: TwoOrgs, owner_engine: sa.Engine) -> TwoOrgs:
    """`public.notes`, a tenant table, with NOTES_PER_ORG rows in each seeded org."""
    ddl = (Path(__file__).parent / "sql" / "notes.sql").read_text()
    ddl = ddl.replace("@app_role@", f'"{tenantkit_db.roles.app}"')
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(ddl)
    add_notes(tenantkit_db, seed)
    return seed


def add_notes(db: TestDatabase, orgs: TwoOrgs, per_org: int = NOTES_PER_ORG) -> None:
    """Insert notes for both orgs as a superuser (outside RLS)."""
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        for org in (orgs.a, orgs.b):
            for i in range(per_org):
                conn.execute(
                    "INSERT INTO public.notes (org_id, body) VALUES (%s, %s)",
                    (org.org_id, f"note {i} of {org.name}"),
                )


@pytest.fixture
def fresh_orgs(
    notes: TwoOrgs, make_seed: Callable[[], TwoOrgs], tenantkit_db: TestDatabase
) -> TwoOrgs:
    """Two new orgs with notes, for tests that change memberships or users."""
    orgs = make_seed()
    add_notes(tenantkit_db, orgs)
    return orgs


@pytest.fixture
def count_notes(
    superuser: psycopg.Connection[tuple[object, ...]],
) -> Callable[[str], int]:
    """Oracle: how many notes an org really has, counted outside RLS."""

    def count(org_id: str) -> int:
        row = superuser.execute(
            "SELECT count(*) FROM public.notes WHERE org_id = %s", (org_id,)
        ).fetchone()
        assert row is not None
        return int(str(row[0]))

    return count


@pytest.fixture(params=["signed", "signing off"])
def signing(request: pytest.FixtureRequest, tenantkit_db: TestDatabase) -> Iterator[bool]:
    """True: signing on (the run's default); False: switched off for this test, so
    each signed-binding test runs as a protected/exposed pair."""
    from tenantkit.db.signing import set_signing

    on = request.param == "signed"
    if os.environ.get("TENANTKIT_TEST_UNSIGNED") == "1":
        pytest.skip("an unsigned run (TENANTKIT_TEST_UNSIGNED=1): nothing signs")
    if not on:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
            set_signing(conn, False)
    try:
        yield on
    finally:
        if not on and os.environ.get("TENANTKIT_TEST_UNSIGNED") != "1":
            with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
                assert set_signing(conn, True)


@pytest.fixture
def app_may_create_temp(tenantkit_db: TestDatabase) -> Iterator[None]:
    """The harness revokes TEMPORARY from PUBLIC (doctor asks for it); grant it back here."""

    def grant(statement: str) -> None:
        with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(
                sql.Identifier(tenantkit_db.name), sql.Identifier(tenantkit_db.roles.app)))

    grant("GRANT TEMPORARY ON DATABASE {} TO {}")
    try:
        yield
    finally:
        grant("REVOKE TEMPORARY ON DATABASE {} FROM {}")


@pytest.fixture
def without_stamp_check(tenantkit_db: TestDatabase) -> Iterator[None]:
    """tenantkit's functions as before migration 0003: ids read with no stamp check."""
    down = render_sql("0003_binding_downgrade.sql", tenantkit_db.roles)
    # 0005, 0006, 0010 and 0012 redefine current_user_id() and the views on top
    # of 0003 (their view files are re-runnable).
    up = "".join(
        render_sql(name, tenantkit_db.roles)
        for name in ("0003_binding.sql", "0005_policy_cost.sql", "0006_signed_binding_views.sql",
                     "0010_api_keys.sql", "0012_policy_probe.sql")
    )
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(down)  # type: ignore[call-overload]
    try:
        yield
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
            conn.execute(up)  # type: ignore[call-overload]
