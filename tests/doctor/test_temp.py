"""Check 14: the app role must not create temporary tables (TEMPORARY on the database)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from tenantkit.doctor import Finding
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.doctor.helpers import apply_fix, as_superuser, bind, of_check


def temp(conn: sa.Connection, db: TestDatabase) -> list[Finding]:
    return of_check(conn, db, "temp")


def test_temporary_through_public(admin_engine: sa.Engine, tenantkit_db: TestDatabase) -> None:
    with as_superuser(
        admin_engine, tenantkit_db, "GRANT TEMPORARY ON DATABASE {db} TO PUBLIC"
    ) as conn:
        found = temp(conn, tenantkit_db)
        assert [(f.severity, f.object) for f in found] == [("error", tenantkit_db.name)]
        assert "through PUBLIC" in found[0].problem
        assert "pooled connection" in found[0].problem and "searched first" in found[0].problem
        assert found[0].fix.startswith(
            f"REVOKE TEMPORARY ON DATABASE {tenantkit_db.name} FROM PUBLIC;"
        )
        apply_fix(conn, found[0])
        assert temp(conn, tenantkit_db) == []


def test_temporary_granted_to_the_app_role_and_a_role_it_inherits(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    statements = (
        "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
        "CREATE ROLE tk_doctor_temp NOLOGIN",
        "GRANT TEMPORARY ON DATABASE {db} TO tk_doctor_temp, {app}",
        "GRANT tk_doctor_temp TO {app}",
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        found = temp(conn, tenantkit_db)
        assert len(found) == 1
        assert f"through {tenantkit_db.roles.app}, tk_doctor_temp" in found[0].problem
        apply_fix(conn, found[0])
        assert temp(conn, tenantkit_db) == []


def test_no_temporary_no_finding(admin_engine: sa.Engine, tenantkit_db: TestDatabase) -> None:
    with as_superuser(
        admin_engine, tenantkit_db, "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC"
    ) as conn:
        assert temp(conn, tenantkit_db) == []


@pytest.fixture
def public_temp(tenantkit_db: TestDatabase) -> Iterator[None]:
    """PUBLIC holds TEMPORARY (committed) for the test; the previous state after."""
    name = sql.Identifier(tenantkit_db.name)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT has_database_privilege('public', current_database(), 'TEMPORARY')"
        ).fetchone()
        conn.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO PUBLIC").format(name))
        try:
            yield
        finally:
            if not (row and row[0]):
                conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(name))


@pytest.mark.usefixtures("public_temp")
def test_why_a_temporary_table_shadows_a_tenant_table(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    # What the finding is about: with TEMPORARY, one request's temp table named
    # like a tenant table is what the next unqualified `notes` reads.
    with psycopg.connect(tenantkit_db.conninfo("app")) as conn:
        bind(conn, notes.a.org_id, notes.a.owner_id)
        real = conn.execute("SELECT count(*) FROM notes").fetchone()
        conn.execute("CREATE TEMP TABLE notes (org_id uuid, id bigint, body text)")
        conn.execute("INSERT INTO notes VALUES (NULL, 1, 'planted')")
        conn.commit()
        bind(conn, notes.b.org_id, notes.b.owner_id)
        shadowed = conn.execute("SELECT count(*), min(body) FROM notes").fetchone()
    assert real is not None and int(str(real[0])) > 0
    assert shadowed == (1, "planted")
