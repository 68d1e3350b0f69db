"""Check 4 sees every role the app role can become, as the connection safety gate does.

Each setup is built as a superuser inside a transaction that is rolled back;
the fix the doctor prints is then run as written, and the finding is gone.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from tenantkit.doctor import Finding
from tenantkit.doctor._roles import GateReason, parse_gate
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.doctor.helpers import apply_fix, as_superuser, bind, of_check

pytestmark = pytest.mark.usefixtures("notes")


def reach_findings(conn: sa.Connection, db: TestDatabase) -> list[Finding]:
    return of_check(conn, db, "app-role")


def assert_fixed(conn: sa.Connection, db: TestDatabase, found: list[Finding]) -> None:
    for finding in found:
        apply_fix(conn, finding)
    assert reach_findings(conn, db) == []


def test_clean_app_role_has_no_finding(admin_engine: sa.Engine, tenantkit_db: TestDatabase) -> None:
    with as_superuser(admin_engine, tenantkit_db) as conn:
        assert reach_findings(conn, tenantkit_db) == []


@pytest.mark.parametrize(
    ("attribute", "reason"),
    [
        ("BYPASSRLS", "has BYPASSRLS"),
        ("SUPERUSER", "is a superuser"),
        ("REPLICATION", "has REPLICATION"),
    ],
)
def test_chain_of_memberships_to_a_dangerous_role(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, attribute: str, reason: str
) -> None:
    statements = (
        f"CREATE ROLE tk_doctor_top NOLOGIN {attribute}",
        "CREATE ROLE tk_doctor_mid NOLOGIN",
        "GRANT tk_doctor_top TO tk_doctor_mid",
        "GRANT tk_doctor_mid TO {app}",
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        found = reach_findings(conn, tenantkit_db)
        assert [(f.severity, f.object) for f in found] == [("error", "tk_doctor_top")]
        assert f"can become tk_doctor_top through tk_doctor_mid, which {reason}" in found[0].problem
        assert found[0].fix.startswith(f"REVOKE tk_doctor_mid FROM {tenantkit_db.roles.app};")
        assert f"ALTER ROLE tk_doctor_top NO{attribute}" in found[0].fix
        assert_fixed(conn, tenantkit_db, found)


def test_membership_of_the_table_owner_through_a_chain(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    statements = (
        "CREATE ROLE tk_doctor_mid NOLOGIN",
        "GRANT {owner} TO tk_doctor_mid",
        "GRANT tk_doctor_mid TO {app}",
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        found = reach_findings(conn, tenantkit_db)
        (owner,) = [f for f in found if f.object == tenantkit_db.owner]
        assert "can become" in owner.problem
        assert "owns a table with row-level security" in owner.problem
        assert owner.fix == f"REVOKE tk_doctor_mid FROM {tenantkit_db.roles.app};"
        # Through the chain it also inherits the owner's TRUNCATE, TRIGGER and
        # REFERENCES on each tenant table (notes, and whatever other tests made).
        inherited = [f for f in found if f is not owner]
        assert "notes" in {f.object for f in inherited}
        assert all(" holds " in f.problem for f in inherited), inherited
        assert_fixed(conn, tenantkit_db, [owner])


def test_admin_option_alone_is_enough(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, server_version: int
) -> None:
    # On PostgreSQL 16+ a grant WITH ADMIN OPTION, SET FALSE, INHERIT FALSE still
    # lets the app role GRANT the role to itself, then SET ROLE to it.
    options = ", INHERIT FALSE, SET FALSE" if server_version >= 160000 else ""
    statements = (
        "CREATE ROLE tk_doctor_bypass NOLOGIN BYPASSRLS",
        "GRANT tk_doctor_bypass TO {app} WITH ADMIN OPTION" + options,
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        found = reach_findings(conn, tenantkit_db)
        assert [f.object for f in found] == ["tk_doctor_bypass"]
        assert "is granted tk_doctor_bypass, which has BYPASSRLS" in found[0].problem
        assert_fixed(conn, tenantkit_db, found)


@pytest.mark.parametrize(
    "predefined", ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"]
)
def test_predefined_roles_that_reach_the_server(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, predefined: str
) -> None:
    with as_superuser(admin_engine, tenantkit_db, f"GRANT {predefined} TO {{app}}") as conn:
        found = reach_findings(conn, tenantkit_db)
        assert [f.object for f in found] == [predefined]
        assert f"which is {predefined}" in found[0].problem
        assert_fixed(conn, tenantkit_db, found)


def test_createrole_before_postgresql_16(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, server_version: int
) -> None:
    with as_superuser(admin_engine, tenantkit_db, "ALTER ROLE {app} CREATEROLE") as conn:
        found = reach_findings(conn, tenantkit_db)
        if server_version >= 160000:
            assert found == []  # 16+ CREATEROLE only administers roles it has ADMIN on
            return
        assert [f.object for f in found] == [tenantkit_db.roles.app]
        assert "CREATEROLE" in found[0].problem
        assert_fixed(conn, tenantkit_db, found)


def test_grant_made_by_another_role_is_revoked_in_its_name(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, server_version: int
) -> None:
    if server_version < 160000:
        pytest.skip("before PostgreSQL 16 a REVOKE of a role ignores who granted it")
    statements = (
        "CREATE ROLE tk_doctor_bypass NOLOGIN BYPASSRLS",
        "CREATE ROLE tk_doctor_granter NOLOGIN",
        "GRANT tk_doctor_bypass TO tk_doctor_granter WITH ADMIN OPTION",
        "GRANT tk_doctor_bypass TO {app} GRANTED BY tk_doctor_granter",
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        found = reach_findings(conn, tenantkit_db)
        assert [f.object for f in found] == ["tk_doctor_bypass"]
        assert "GRANTED BY tk_doctor_granter" in found[0].fix
        assert_fixed(conn, tenantkit_db, found)


@pytest.fixture
def escalation(tenantkit_db: TestDatabase) -> Iterator[str]:
    """A committed chain app -> mid -> a BYPASSRLS role that may read notes; dropped after."""
    suffix = secrets.token_hex(3)
    mid, top = f"tk_doctor_mid_{suffix}", f"tk_doctor_top_{suffix}"
    app = sql.Identifier(tenantkit_db.roles.app)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN BYPASSRLS").format(sql.Identifier(top)))
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(mid)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(top), sql.Identifier(mid)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(mid), app))
        conn.execute(sql.SQL("GRANT SELECT ON public.notes TO {}").format(sql.Identifier(top)))
    try:
        yield top
    finally:
        with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
            for role in (top, mid):
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_chain_is_a_real_escalation(
    admin_engine: sa.Engine,
    tenantkit_db: TestDatabase,
    notes: TwoOrgs,
    escalation: str,
    superuser: psycopg.Connection[tuple[object, ...]],
) -> None:
    # What the finding is about: bound to org A, the app role SET ROLEs up the
    # chain and reads every org's notes; the doctor names that role.
    with psycopg.connect(tenantkit_db.conninfo("app")) as conn:
        bind(conn, notes.a.org_id, notes.a.owner_id)
        bound = conn.execute("SELECT count(*) FROM public.notes").fetchone()
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(escalation)))
        escaped = conn.execute(
            "SELECT count(DISTINCT org_id), count(*) FROM public.notes"
        ).fetchone()
    total = superuser.execute(
        "SELECT count(DISTINCT org_id), count(*) FROM public.notes"
    ).fetchone()
    own = superuser.execute(
        "SELECT count(*) FROM public.notes WHERE org_id = %s", (notes.a.org_id,)
    ).fetchone()
    assert bound == own
    assert escaped == total and total is not None and int(str(total[0])) >= 2
    with admin_engine.connect() as conn:
        assert [f.object for f in reach_findings(conn, tenantkit_db)] == [escalation]


@pytest.mark.nodb
def test_gate_reasons_are_parsed_with_quoted_names() -> None:
    reasons = (
        'role tk_app can become "we;ird, which ""x""", which has BYPASSRLS; '
        "role tk_app is a superuser"
    )
    assert parse_gate(reasons) == [
        GateReason("tk_app", 'we;ird, which "x"', "has BYPASSRLS"),
        GateReason("tk_app", "tk_app", "is a superuser"),
    ]
    assert parse_gate("the gate said something else") is None
