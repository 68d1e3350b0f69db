"""0003_own_tables.sql and its downgrade: the downgrade restores 0002 exactly.

Exactly means every catalog fact a caller could observe about tenantkit's
schema: relations, columns, constraints, indexes, triggers, policies,
functions (definitions, settings, EXECUTE) and every table, column, sequence
and schema privilege, compared as sets.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit import migrate
from tenantkit.orgs import Management
from tenantkit.sqlfiles import render_sql
from tenantkit.testing import RunningServer, TestDatabase, provision_database, seed_two_orgs

CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'tenantkit'""",
    "relation privileges": """
        SELECT c.relname, a.grantor::regrole::text,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
               a.privilege_type, a.is_grantable
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
             aclexplode(c.relacl) a
        WHERE n.nspname = 'tenantkit'""",
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'tenantkit' AND a.attnum > 0 AND NOT a.attisdropped""",
    "column privileges": """
        SELECT c.relname, a.attname, x.grantee::regrole::text, x.privilege_type
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(a.attacl) x
        WHERE n.nspname = 'tenantkit' AND NOT a.attisdropped""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'tenantkit'::regnamespace""",
    "indexes": """
        SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relnamespace = 'tenantkit'::regnamespace""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid), tgenabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'tenantkit'::regnamespace AND NOT tgisinternal""",
    "policies": """
        SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = 'tenantkit'""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid),
               p.prosecdef, p.provolatile, p.proconfig::text
        FROM pg_proc p WHERE p.pronamespace = 'tenantkit'::regnamespace""",
    "function privileges": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
               a.privilege_type
        FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        WHERE p.pronamespace = 'tenantkit'::regnamespace""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'tenantkit'""",
    "schema privileges": """
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
               a.privilege_type
        FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'tenantkit'""",
}


def snapshot(db: TestDatabase) -> dict[str, set[tuple[object, ...]]]:
    with psycopg.connect(db.conninfo("admin")) as conn:
        return {name: set(conn.execute(sql).fetchall()) for name, sql in CATALOG.items()}


@pytest.fixture
def at_0002(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    """A database at revision 0002, with two orgs, one of them deleted (its trail stays)."""
    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles, revision="0002")
    engine = sa.create_engine(db.url("service"), poolclass=sa.NullPool)
    with engine.begin() as conn:
        orgs = seed_two_orgs(conn)
        Management(conn).orgs.delete(orgs.b.org_id)
    engine.dispose()
    yield db
    db.drop()


def run_file(db: TestDatabase, name: str) -> None:
    with psycopg.connect(db.conninfo("owner")) as conn:
        conn.execute(render_sql(name, db.roles))


def test_the_downgrade_restores_0002_exactly(at_0002: TestDatabase) -> None:
    before = snapshot(at_0002)
    run_file(at_0002, "0003_own_tables.sql")
    upgraded = snapshot(at_0002)
    assert upgraded != before
    run_file(at_0002, "0003_own_tables_downgrade.sql")
    after = snapshot(at_0002)
    assert {k: (before[k] - after[k], after[k] - before[k]) for k in before
            if before[k] != after[k]} == {}
    run_file(at_0002, "0003_own_tables.sql")  # and it upgrades again
    assert snapshot(at_0002) == upgraded


def test_the_upgrade_tombstones_orgs_deleted_before_it(at_0002: TestDatabase) -> None:
    run_file(at_0002, "0003_own_tables.sql")
    with psycopg.connect(at_0002.conninfo("admin")) as conn:
        deleted = conn.execute(
            "SELECT DISTINCT org_id FROM tenantkit.audit_log WHERE action = 'org.deleted'"
        ).fetchall()
        tombstones = conn.execute("SELECT org_id FROM tenantkit.org_tombstones").fetchall()
        assert deleted and tombstones == deleted
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("INSERT INTO tenantkit.orgs (org_id, name, url_safe_org_name) "
                         "VALUES (%s, 'again', '')", (deleted[0][0],))
        assert refused.value.sqlstate == "TK011"
