"""Check 13: role-level defaults that reach the app role's connections are errors."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from tenantkit.doctor import Finding
from tenantkit.testing import TestDatabase
from tests.doctor.helpers import apply_fix, as_superuser, of_check


def defaults(conn: sa.Connection, db: TestDatabase) -> list[Finding]:
    return of_check(conn, db, "role-defaults")


@pytest.mark.parametrize(
    ("statement", "obj", "reset"),
    [
        ("ALTER ROLE {app} SET search_path = tenantkit, public", "{app}", "search_path"),
        ("ALTER ROLE {app} SET row_security = off", "{app}", "row_security"),
        ("ALTER ROLE {app} SET role = {owner}", "{app}", "role"),
        ("ALTER ROLE {app} SET session_authorization = {owner}", "{app}", "session_authorization"),
        (
            "ALTER ROLE {app} SET default_transaction_read_only = on",
            "{app}",
            "default_transaction_read_only",
        ),
        (
            "ALTER ROLE {app} SET tenantkit.org_id = '00000000-0000-0000-0000-000000000000'",
            "{app}",
            "tenantkit.org_id",
        ),
        ("ALTER ROLE {app} IN DATABASE {db} SET search_path = x", "{app} in {db}", "search_path"),
        (
            "ALTER ROLE ALL IN DATABASE {db} SET row_security = off",
            "all roles in {db}",
            "row_security",
        ),
        ("ALTER DATABASE {db} SET search_path = x", "all roles in {db}", "search_path"),
        ("ALTER ROLE ALL SET tenantkit.user_id = 'x'", "all roles", "tenantkit.user_id"),
    ],
)
def test_role_default_is_an_error_with_its_reset(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, statement: str, obj: str, reset: str
) -> None:
    names = {"app": tenantkit_db.roles.app, "db": tenantkit_db.name, "owner": tenantkit_db.owner}
    with as_superuser(admin_engine, tenantkit_db, statement) as conn:
        found = defaults(conn, tenantkit_db)
        assert [(f.severity, f.object) for f in found] == [("error", obj.format(**names))]
        assert found[0].fix.startswith("ALTER ROLE ") and found[0].fix.endswith(f"RESET {reset};")
        apply_fix(conn, found[0])
        assert defaults(conn, tenantkit_db) == []


def test_other_roles_databases_and_settings_are_not_reported(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    statements = (
        "ALTER ROLE {app} SET work_mem = '8MB'",
        "ALTER ROLE {owner} SET search_path = x",
        "ALTER ROLE {app} IN DATABASE postgres SET search_path = x",
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        assert defaults(conn, tenantkit_db) == []


@pytest.fixture
def reset_app_role(tenantkit_db: TestDatabase) -> Iterator[None]:
    yield
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} RESET ALL").format(sql.Identifier(tenantkit_db.roles.app))
        )


@pytest.mark.usefixtures("reset_app_role")
def test_the_app_role_setting_its_own_default_is_reported(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    # No superuser needed: the app role alters itself (ALTER ROLE CURRENT_USER SET).
    with psycopg.connect(tenantkit_db.conninfo("app"), autocommit=True) as app:
        app.execute("ALTER ROLE CURRENT_USER SET search_path = tenantkit")
    with admin_engine.connect() as conn:
        found = defaults(conn, tenantkit_db)
        assert [f.object for f in found] == [tenantkit_db.roles.app]
        assert "search_path = tenantkit" in found[0].problem
