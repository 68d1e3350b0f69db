"""Mistakes made in the app's migrations fail at migration time, with one clear line.

- a misspelled role or permission in a rule (it would silently match nobody);
- an app role typo in the Alembic environment (it would fall back to another role);
- the app's migrations run before `tenantkit migrate` (schema "tenantkit" does not exist).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import main as alembic_main
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

import tenantkit.alembic
from tenantkit.alembic import CreateTenantPolicyOp, EnableTenancyOp
from tenantkit.alembic._preflight import TenancyMigrationError, UnknownRuleNameError
from tenantkit.database_roles import DatabaseRoles
from tenantkit.rls import minimum_role, permission
from tenantkit.tables.names import UnknownRuleName
from tenantkit.testing import RunningServer, TestDatabase, provision_database
from tests.tables.helpers import MIGRATIONS, app_alembic_config

pytestmark = pytest.mark.usefixtures("app_data")


@pytest.fixture
def owner(owner_engine_t: sa.Engine) -> Iterator[sa.Connection]:
    with owner_engine_t.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def operations(conn: sa.Connection, roles: DatabaseRoles) -> Operations:
    opts = tenantkit.alembic.options(roles=roles)
    return Operations(MigrationContext.configure(connection=conn, opts=opts))


def policy_op(rule_sql: str) -> CreateTenantPolicyOp:
    return CreateTenantPolicyOp("documents", "tenantkit_extra", command="DELETE", using=rule_sql)


def test_a_misspelled_role_is_refused_naming_the_known_ones(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    with pytest.raises(UnknownRuleNameError) as info:
        operations(owner, tables_db.roles).invoke(policy_op(minimum_role("admin").using()))
    assert isinstance(info.value, UnknownRuleName)
    assert str(info.value) == (
        "documents.tenantkit_extra: role 'admin' is in no role mapping "
        "(known roles: Admin, Member, Owner)"
    )


def test_a_misspelled_permission_is_refused(owner: sa.Connection, tables_db: TestDatabase) -> None:
    with pytest.raises(UnknownRuleNameError) as info:
        operations(owner, tables_db.roles).invoke(policy_op(permission("docs:wrte").using()))
    message = str(info.value)
    assert "permission 'docs:wrte' is granted by no role (known permissions: " in message
    assert "tenantkit::can_invite" in message


def test_known_names_pass(owner: sa.Connection, tables_db: TestDatabase) -> None:
    rule = minimum_role("Admin") | permission("tenantkit::can_invite")
    operations(owner, tables_db.roles).invoke(policy_op(rule.using()))


def test_an_app_role_typo_in_the_environment_is_an_error(tables_db: TestDatabase) -> None:
    config = app_alembic_config(tables_db)
    config.attributes["tenantkit_roles"] = DatabaseRoles(app="tenantkit_ap")
    with pytest.raises(TenancyMigrationError) as info:
        command.check(config)
    assert str(info.value).startswith(
        f"the app role 'tenantkit_ap' of this Alembic environment is not the one tenantkit "
        f"was migrated with ('{tables_db.roles.app}'): pass `-x app_role={tables_db.roles.app}`"
    )


def test_the_alembic_command_prints_one_line(
    tables_db: TestDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = tables_db.url("owner").render_as_string(hide_password=False).replace("%", "%%")
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {MIGRATIONS}\nsqlalchemy.url = {url}\n")
    with pytest.raises(SystemExit):
        alembic_main(["-c", str(ini), "-x", "app_role=tenantkit_ap", "check"])
    # Alembic reports a CommandError as one line (FAILED: ..., logged), no traceback.
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    [record] = [r for r in caplog.records if r.name.startswith("alembic")]
    assert record.getMessage().startswith(
        "the app role 'tenantkit_ap' of this Alembic environment is not the one"
    )
    assert record.exc_info is None


def test_app_migrations_before_tenantkit_migrate_get_a_hint(
    tenantkit_server: RunningServer,
) -> None:
    bare = provision_database(tenantkit_server)  # no `tenantkit migrate`
    engine = sa.create_engine(bare.url("owner"))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE documents (org_id uuid NOT NULL, id uuid)")
            with pytest.raises(TenancyMigrationError) as info:
                operations(conn, bare.roles).invoke(EnableTenancyOp("documents"))
            conn.rollback()
    finally:
        engine.dispose()
        if not tenantkit_server.throwaway:
            bare.drop()
    assert str(info.value).startswith(
        "tenantkit's schema is not in this database: run `tenantkit migrate"
    )
