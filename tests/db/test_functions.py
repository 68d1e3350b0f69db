"""Properties of tenantkit's SQL functions, read from the catalog."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import tenant_context
from tenantkit.testing import TestDatabase, TwoOrgs

PUBLIC_FUNCTIONS = {
    "current_user_id": True,  # verifies the signature: reads binding_keys (0006)
    "bound_user_id": False,
    "current_org_id": True,
    "current_role": True,
    "has_min_role": True,
    "has_role": True,
    "has_permission": True,
    "has_all_permissions": True,
    "is_member": True,
}  # name -> must be SECURITY DEFINER (reads tenantkit tables)

# SQL-standard bodies (RETURN ...): parsed when created, every name resolved
# then, so search_path at call time cannot change them; no SET clause, which
# lets PostgreSQL inline them into the policy's InitPlan (sql/0005_policy_cost.sql,
# sql/0006_signed_binding_views.sql).
PARSED_BODIES = {"bound_user_id"}


def _functions(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    rows = conn.execute(
        "SELECT p.proname, p.provolatile, p.prosecdef, p.proconfig, p.prokind "
        "FROM pg_proc p WHERE p.pronamespace = 'tenantkit'::regnamespace"
    ).fetchall()
    return {str(r[0]): r[1:] for r in rows}


def test_functions_are_stable_and_pin_search_path(
    superuser: psycopg.Connection[tuple[object, ...]],
    tenantkit_db: TestDatabase,
) -> None:
    functions = _functions(superuser)
    for name, definer in PUBLIC_FUNCTIONS.items():
        volatile, secdef, config, _ = functions[name]
        assert volatile == "s", name
        assert secdef is definer, name
        if name in PARSED_BODIES:
            continue
        assert config == ['search_path=""'], name
    # Every SECURITY DEFINER function pins its search_path, not only the public ones.
    for name, (_, secdef, config, _) in functions.items():
        if secdef:
            assert config == ['search_path=""'], name


def test_execute_is_granted_to_the_app_role_only(
    superuser: psycopg.Connection[tuple[object, ...]],
    tenantkit_db: TestDatabase,
) -> None:
    for name in PUBLIC_FUNCTIONS:
        oid = superuser.execute(
            "SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'tenantkit'::regnamespace "
            "AND p.proname = %s",
            (name,),
        ).fetchone()
        assert oid is not None
        acl = superuser.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE'), "
            "has_function_privilege(%s, %s, 'EXECUTE'), "
            "EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) a "
            "        WHERE p.oid = %s AND a.grantee = 0)",
            (tenantkit_db.roles.app, oid[0], tenantkit_db.roles.service, oid[0], oid[0]),
        ).fetchone()
        assert acl == (True, False, False), name


@pytest.mark.parametrize(
    ("user", "org", "expected"),
    [
        ("owner", "a", ("Owner", True, True, True, True, True)),
        ("admin", "a", ("Admin", True, False, True, False, True)),
        ("member", "a", ("Member", False, False, False, False, False)),
        ("shared", "a", ("Member", False, False, False, False, False)),
        ("shared", "b", ("Admin", True, False, True, False, True)),
        ("member", "b", (None, False, False, False, False, False)),  # not a member of B
    ],
)
def test_role_functions(
    app_sessions: sessionmaker[Session],
    seed: TwoOrgs,
    user: str,
    org: str,
    expected: tuple[object, ...],
) -> None:
    target = seed.a if org == "a" else seed.b
    ids = {
        "owner": seed.a.owner_id,
        "admin": seed.a.admin_id,
        "member": seed.a.member_id,
        "shared": seed.shared_user_id,
    }
    query = sa.text(
        "SELECT tenantkit.current_role(), tenantkit.has_min_role('Admin'), "
        "tenantkit.has_role('Owner'), tenantkit.has_permission('tenantkit::can_invite'), "
        "tenantkit.has_permission('tenantkit::can_delete_org'), "
        "tenantkit.has_all_permissions("
        "    ARRAY['tenantkit::can_invite', 'tenantkit::can_view_audit_log'])"
    )
    with tenant_context(target.context(ids[user])), app_sessions() as session:
        assert tuple(session.execute(query).one()) == expected


def test_edge_arguments_fail_closed(app_sessions: sessionmaker[Session], seed: TwoOrgs) -> None:
    with tenant_context(seed.a.context(seed.a.owner_id)), app_sessions() as session:
        row = session.execute(
            sa.text(
                "SELECT tenantkit.has_min_role('NoSuchRole'), tenantkit.has_min_role(NULL), "
                "tenantkit.has_role(NULL), tenantkit.has_permission(NULL), "
                "tenantkit.has_all_permissions('{}'), tenantkit.has_all_permissions(NULL), "
                "tenantkit.has_all_permissions(ARRAY[NULL]::text[]), tenantkit.is_member(NULL)"
            )
        ).one()
        assert tuple(row) == (False,) * 8


def test_is_member_is_scoped_to_the_bound_org(
    app_sessions: sessionmaker[Session], seed: TwoOrgs
) -> None:
    with tenant_context(seed.a.context(seed.a.member_id)), app_sessions() as session:
        check = sa.text("SELECT tenantkit.is_member(CAST(:u AS uuid))")
        assert session.execute(check, {"u": seed.a.owner_id}).scalar() is True
        assert session.execute(check, {"u": seed.b.owner_id}).scalar() is False


def test_parsed_bodies_are_parsed_inlinable_and_read_no_table(
    superuser: psycopg.Connection[tuple[object, ...]],
    tenantkit_db: TestDatabase,
) -> None:
    for name in PARSED_BODIES:
        row = superuser.execute(
            "SELECT l.lanname = 'sql', p.prosqlbody IS NOT NULL, "
            "p.proconfig IS NULL, NOT p.prosecdef "
            "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.pronamespace = 'tenantkit'::regnamespace AND p.proname = %s",
            (name,),
        ).fetchone()
        assert row == (True, True, True, True), name
