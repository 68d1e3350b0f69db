"""Alembic: the ops, exact autogenerate, and a migration round trip.

Autogenerate runs in-process on the owner's connection inside a transaction
that every test rolls back, so the database stays at head.
"""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import CreateTableOp, DropTableOp, UpgradeOps
from alembic.runtime.migration import MigrationContext

import tenantkit.alembic
from tenantkit import migrate
from tenantkit.alembic import (
    AlterTenancyOp,
    AlterTenantPolicyOp,
    CreateTenantPolicyOp,
    DropTenantPolicyOp,
    EnableTenancyOp,
)
from tenantkit.db.signing import BindingKey
from tenantkit.doctor import run_checks
from tenantkit.rls import TableName, TenancySpec, deny, minimum_role, permission
from tenantkit.schema import orgs
from tenantkit.tables import SharedTable, UndeclaredTenantTable, declarations, tenant_table
from tenantkit.tables.catalog import read_live
from tenantkit.tables.declare import INFO_KEY
from tenantkit.testing import RunningServer, TestDatabase, configure_signing, provision_database
from tenantkit.testing._seed import seed_two_orgs
from tests.tables.app.models import Base, Document, Project
from tests.tables.helpers import app_alembic_config

pytestmark = pytest.mark.usefixtures("app_data")


@pytest.fixture
def owner(owner_engine_t: sa.Engine) -> Iterator[sa.Connection]:
    """The owner's connection in a transaction that is rolled back."""
    with owner_engine_t.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def context(
    conn: sa.Connection, db: TestDatabase, metadata: sa.MetaData, **extra: Any
) -> MigrationContext:
    options = tenantkit.alembic.options(roles=db.roles)
    return MigrationContext.configure(
        connection=conn, opts={"target_metadata": metadata, **options, **extra}
    )


def autogenerate(
    conn: sa.Connection, db: TestDatabase, metadata: sa.MetaData = Base.metadata, **extra: Any
) -> list[MigrateOperation]:
    script = produce_migrations(context(conn, db, metadata, **extra), metadata)
    ops = script.upgrade_ops
    assert ops is not None
    return list(ops.ops)


def apply(conn: sa.Connection, db: TestDatabase, ops: list[MigrateOperation]) -> None:
    operations = Operations(context(conn, db, Base.metadata))
    for op in ops:
        operations.invoke(op)


def reverse(ops: list[MigrateOperation]) -> list[MigrateOperation]:
    return [op.reverse() for op in reversed(ops)]


def render(ops: list[MigrateOperation]) -> str:
    return render_python_code(UpgradeOps(ops=ops))


def state(conn: sa.Connection, db: TestDatabase, table: str) -> Any:
    live = read_live(conn, TableName(table), app_role=db.roles.app, tenant_column="org_id")
    assert live is not None
    return dataclasses.replace(live, oid=0)


def copy_metadata(without: str | None = None) -> sa.MetaData:
    """The app's metadata, copied; tenantkit.orgs comes along for the foreign keys
    (options()'s include_object keeps it out of the comparison)."""
    metadata = sa.MetaData()
    orgs.to_metadata(metadata)
    for table in Base.metadata.tables.values():
        if table.name != without:
            table.to_metadata(metadata)
    return metadata


@pytest.fixture
def redeclare(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Change a model's declaration for one test."""

    def change(model: Any, declaration: object) -> None:
        monkeypatch.setitem(model.__table__.info, INFO_KEY, declaration)

    return change


def spec(model: Any) -> TenancySpec:
    found = model.__table__.info[INFO_KEY]
    assert isinstance(found, TenancySpec)
    return found


def test_up_to_date_database_autogenerates_nothing(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    assert autogenerate(owner, tables_db) == []


def test_tenantkit_schema_stays_out_of_the_apps_autogenerate(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    # With every schema compared, tenantkit's tables would otherwise be "removed".
    assert autogenerate(owner, tables_db, include_schemas=True) == []
    script = produce_migrations(
        MigrationContext.configure(
            connection=owner,
            opts={
                "target_metadata": Base.metadata,
                "include_schemas": True,
                "tenantkit_roles": tables_db.roles,  # the roles, without the filters
            },
        ),
        Base.metadata,
    )
    assert script.upgrade_ops is not None
    dropped = [op for op in script.upgrade_ops.ops if isinstance(op, DropTableOp)]
    assert {op.schema for op in dropped} == {"tenantkit"}  # what options() prevents


def test_alembic_check_through_the_apps_env_py(tables_db: TestDatabase) -> None:
    # env.py has the two tenantkit lines; `alembic check` fails on any diff.
    command.check(app_alembic_config(tables_db))


@pytest.mark.parametrize(
    ("rule", "policy"),
    [
        ("read", "tenantkit_select"),
        ("insert", "tenantkit_insert"),
        ("update", "tenantkit_update"),
        ("delete", "tenantkit_delete"),
    ],
)
def test_changing_one_rule_yields_exactly_one_alter(
    owner: sa.Connection, tables_db: TestDatabase, redeclare: Any, rule: str, policy: str
) -> None:
    original = spec(Document)
    new_rule = minimum_role("Owner") | permission("tenantkit::can_delete_org")
    redeclare(Document, dataclasses.replace(original, **{rule: new_rule}))
    ops = autogenerate(owner, tables_db)
    assert len(ops) == 1
    (op,) = ops
    assert isinstance(op, AlterTenantPolicyOp)
    assert (op.table_name, op.policy_name) == ("documents", policy)
    expected = new_rule.using()
    assert expected in (op.using, op.with_check)
    assert f"op.alter_tenant_policy('documents', '{policy}'" in render(ops)
    # Applied, the database matches the new declaration; reversed, the old one.
    apply(owner, tables_db, ops)
    assert autogenerate(owner, tables_db) == []
    apply(owner, tables_db, reverse(ops))
    redeclare(Document, original)
    assert autogenerate(owner, tables_db) == []


def test_denying_a_command_drops_its_policy_and_privilege(
    owner: sa.Connection, tables_db: TestDatabase, redeclare: Any
) -> None:
    before = state(owner, tables_db, "documents")
    redeclare(Document, dataclasses.replace(spec(Document), delete=deny()))
    ops = autogenerate(owner, tables_db)
    assert [type(op) for op in ops] == [DropTenantPolicyOp, AlterTenancyOp]
    alter = ops[1]
    assert isinstance(alter, AlterTenancyOp)
    assert (alter.privileges, alter.existing_privileges) == (
        ("SELECT", "INSERT", "UPDATE"),
        ("SELECT", "INSERT", "UPDATE", "DELETE"),
    )
    apply(owner, tables_db, ops)
    assert autogenerate(owner, tables_db) == []
    apply(owner, tables_db, reverse(ops))
    assert state(owner, tables_db, "documents") == before


DRIFT = [
    "ALTER TABLE documents NO FORCE ROW LEVEL SECURITY",
    "GRANT TRUNCATE, REFERENCES ON documents TO {app}",
    "ALTER POLICY tenantkit_select ON documents USING (true)",
    "DROP TRIGGER tenantkit_refuse_tenant_change ON documents",
    "ALTER TABLE documents ALTER COLUMN org_id DROP DEFAULT",
]


def test_drift_is_found_and_repaired_reversibly(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    for statement in DRIFT:
        owner.exec_driver_sql(statement.format(app=tables_db.roles.app))
    drifted = state(owner, tables_db, "documents")
    ops = autogenerate(owner, tables_db)
    assert [type(op) for op in ops] == [AlterTenantPolicyOp, AlterTenancyOp]
    policy, settings = ops
    assert isinstance(policy, AlterTenantPolicyOp) and policy.existing_using == "true"
    assert isinstance(settings, AlterTenancyOp)
    assert settings.force is True and settings.existing_force is False
    assert settings.privileges == ("SELECT", "INSERT", "UPDATE", "DELETE")
    assert settings.default_to_bound_org is True and settings.refuse_tenant_change is True
    assert settings.row_security is None  # unchanged settings are left out
    apply(owner, tables_db, ops)
    assert autogenerate(owner, tables_db) == []
    apply(owner, tables_db, reverse(ops))
    assert state(owner, tables_db, "documents") == drifted


def test_policies_tenantkit_does_not_own_are_left_alone(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    owner.exec_driver_sql(
        f"CREATE POLICY app_extra ON documents FOR SELECT TO {tables_db.roles.app} "
        "USING (title <> 'hidden')"
    )
    assert autogenerate(owner, tables_db) == []


def test_new_tenant_table_gets_tenancy_right_after_create_table(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    metadata = copy_metadata()
    tenant_table(
        sa.Table(
            "notes",
            metadata,
            sa.Column("org_id", sa.Uuid, primary_key=True),
            sa.Column("id", sa.Uuid, primary_key=True),
        ),
        delete=minimum_role("Admin"),
    )
    ops = autogenerate(owner, tables_db, metadata)
    assert [type(op) for op in ops] == [CreateTableOp, EnableTenancyOp] + [CreateTenantPolicyOp] * 4
    code = render(ops)
    assert "info=" not in code
    assert "op.enable_tenancy('notes')" in code
    apply(owner, tables_db, ops)
    assert autogenerate(owner, tables_db, metadata) == []


def test_dropped_table_loses_tenancy_first_so_downgrade_restores_it(
    owner: sa.Connection, tables_db: TestDatabase
) -> None:
    before = state(owner, tables_db, "projects")
    metadata = copy_metadata(without="projects")
    ops = autogenerate(owner, tables_db, metadata)
    assert [type(op) for op in ops] == [DropTenantPolicyOp] * 5 + [AlterTenancyOp, DropTableOp]
    apply(owner, tables_db, ops)
    apply(owner, tables_db, reverse(ops))
    assert state(owner, tables_db, "projects") == before


def test_shared_opt_out_removes_tenancy_but_keeps_grants(
    owner: sa.Connection, tables_db: TestDatabase, redeclare: Any
) -> None:
    redeclare(Project, SharedTable("now global"))
    ops = autogenerate(owner, tables_db)
    assert [type(op) for op in ops] == [DropTenantPolicyOp] * 5 + [AlterTenancyOp]
    alter = ops[-1]
    assert isinstance(alter, AlterTenancyOp)
    assert (alter.row_security, alter.force, alter.privileges) == (False, False, None)


def test_undeclaring_by_accident_does_not_switch_rls_off(
    owner: sa.Connection, tables_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never a migration that switches RLS off: autogenerate refuses the table
    # (it carries org_id and is neither declared nor opted out).
    monkeypatch.delitem(Document.__table__.info, INFO_KEY)
    with pytest.raises(UndeclaredTenantTable, match=r"^documents: carries the tenant column"):
        autogenerate(owner, tables_db)


def test_policy_sql_reaches_postgres_verbatim(
    owner: sa.Connection, tables_db: TestDatabase, redeclare: Any
) -> None:
    # ':x' and '%' would be bind-parameter syntax to text() and to psycopg.
    from tenantkit.rls import sql

    rule = sql("title <> ':x %s 100%'")
    redeclare(Document, dataclasses.replace(spec(Document), read=rule))
    ops = autogenerate(owner, tables_db)
    apply(owner, tables_db, ops)
    assert autogenerate(owner, tables_db) == []
    live = state(owner, tables_db, "documents").policies["tenantkit_select"]
    assert live.qual == "(title <> ':x %s 100%'::text)"


def test_offline_sql_names_the_configured_app_role(tables_db: TestDatabase) -> None:
    config = app_alembic_config(tables_db)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "0001:0002", sql=True)
    output = config.output_buffer.getvalue()
    assert (
        "CREATE POLICY tenantkit_isolation ON documents AS RESTRICTIVE FOR ALL TO "
        f"{tables_db.roles.app}\n"
        "    USING (org_id = (SELECT m.org_id FROM tenantkit.current_membership AS m))"
    ) in output


def test_round_trip_upgrade_downgrade_upgrade_loses_no_rows(
    tenantkit_server: RunningServer, binding_key: BindingKey | None
) -> None:
    db = provision_database(tenantkit_server)
    try:
        migrate.upgrade(db.url("owner"), roles=db.roles)
        configure_signing(db, binding_key)  # signed as the run is (fresh installs sign)
        config = app_alembic_config(db)
        command.upgrade(config, "head")
        engine = sa.create_engine(db.url("owner"), poolclass=sa.NullPool)
        with engine.begin() as conn:
            orgs = seed_two_orgs(conn)
        with psycopg.connect(db.conninfo("admin"), autocommit=True) as su:
            for org in (orgs.a, orgs.b):
                for i in range(5):
                    doc = str(uuid.uuid4())
                    su.execute(
                        "INSERT INTO documents (org_id, id, title) VALUES (%s, %s, %s)",
                        (org.org_id, doc, f"doc {i}"),
                    )
                    su.execute(
                        "INSERT INTO comments (org_id, document_id, author_id, body) "
                        "VALUES (%s, %s, %s, 'c')",
                        (org.org_id, doc, org.member_id),
                    )
                su.execute("INSERT INTO projects (org_id, slug) VALUES (%s, 'p')", (org.org_id,))

            def rows() -> dict[str, list[tuple[Any, ...]]]:
                return {
                    t: su.execute(f"SELECT * FROM {t} ORDER BY org_id, id").fetchall()
                    for t in ("documents", "comments", "projects")
                }

            def rls_on() -> list[tuple[Any, ...]]:
                return su.execute(
                    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                    "WHERE relname IN ('documents', 'comments', 'projects') ORDER BY 1"
                ).fetchall()

            before = rows()
            assert {r[1:] for r in rls_on()} == {(True, True)}
            command.downgrade(config, "0001")
            assert {r[1:] for r in rls_on()} == {(False, False)}
            assert rows() == before
            command.upgrade(config, "head")
            assert rows() == before
            assert {r[1:] for r in rls_on()} == {(True, True)}
        assert (
            run_checks(engine, app_role=db.roles.app, declarations=declarations(Base.metadata))
            == []
        )
        with engine.connect() as conn:
            assert autogenerate(conn, db) == []
        engine.dispose()
    finally:
        if not tenantkit_server.throwaway:
            db.drop()
