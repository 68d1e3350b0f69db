"""A table carrying the tenant column that is neither declared nor opted out is refused
while authoring: by autogenerate, `alembic check` and `tenantkit policies`.

The leak it prevents (issue 15): autogenerate created such a table with no RLS,
the usual `GRANT ... ON ALL TABLES` followed, and a member of org A read org B's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.operations import Operations
from alembic.operations.ops import CreateTableOp
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

import tenantkit.alembic
from tenantkit.cli import main
from tenantkit.tables import UndeclaredTenantTable, shared_table
from tenantkit.testing import TestDatabase
from tests.tables.app.models import Base
from tests.tables.helpers import app_alembic_config

pytestmark = pytest.mark.usefixtures("app_data")


@pytest.fixture
def leaky() -> Iterator[sa.Table]:
    """`invoices` with an org_id, added to the fixture app's metadata, undeclared."""
    table = sa.Table(
        "invoices",
        Base.metadata,
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("amount", sa.Integer, nullable=False),
    )
    try:
        yield table
    finally:
        Base.metadata.remove(table)


def _context(conn: sa.Connection, db: TestDatabase) -> MigrationContext:
    opts = {"target_metadata": Base.metadata, **tenantkit.alembic.options(roles=db.roles)}
    return MigrationContext.configure(connection=conn, opts=opts)


def test_autogenerate_refuses_an_undeclared_tenant_table(
    leaky: sa.Table, owner_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    with owner_engine_t.connect() as conn, pytest.raises(UndeclaredTenantTable) as info:
        produce_migrations(_context(conn, tables_db), Base.metadata)
    message = str(info.value)
    assert message.startswith("invoices: carries the tenant column org_id")
    assert "@tenant_table(...)" in message and 'shared_table(..., reason="...")' in message


def test_alembic_check_refuses_it_too(leaky: sa.Table, tables_db: TestDatabase) -> None:
    with pytest.raises(UndeclaredTenantTable, match="invoices"):
        command.check(app_alembic_config(tables_db))


def test_opting_out_is_accepted(
    leaky: sa.Table, owner_engine_t: sa.Engine, tables_db: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(leaky.info, "tenantkit", None)
    shared_table(leaky, reason="billing reads every org's invoices")
    with owner_engine_t.connect() as conn:
        script = produce_migrations(_context(conn, tables_db), Base.metadata)
    assert script.upgrade_ops is not None
    created = [op for op in script.upgrade_ops.ops if isinstance(op, CreateTableOp)]
    assert [op.table_name for op in created] == ["invoices"]


def test_without_the_refusal_the_table_leaks_across_orgs(
    leaky: sa.Table, tables_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The protection switched off: autogenerate writes a bare create_table, and
    # after the usual grant the app role reads every org's invoices.
    monkeypatch.setattr(tenantkit.alembic._compare, "check_declared", lambda tables: None)
    admin = sa.create_engine(tables_db.url("admin"))
    try:
        with admin.connect() as conn:
            conn.begin()  # never committed: rolled back when the connection closes
            script = produce_migrations(_context(conn, tables_db), Base.metadata)
            assert script.upgrade_ops is not None
            operations = Operations(_context(conn, tables_db))
            for op in script.upgrade_ops.ops:
                operations.invoke(op)
            app = sa.quoted_name(tables_db.roles.app, True)
            conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{app}"')
            org_a, org_b = uuid.uuid4(), uuid.uuid4()
            for org in (org_a, org_b):
                conn.execute(leaky.insert().values(org_id=org, id=uuid.uuid4(), amount=1))
            conn.exec_driver_sql(f'SET LOCAL ROLE "{app}"')
            seen = set(conn.execute(sa.select(leaky.c.org_id)).scalars())
            assert seen == {org_a, org_b}  # the leak
    finally:
        admin.dispose()


def test_tenantkit_policies_refuses_it(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    module = "tests.alembic._undeclared_models"
    result = CliRunner().invoke(main, ["policies", "--models", module])
    assert result.exit_code == 1, result.output
    assert "Error: invoices: carries the tenant column org_id but is neither declared" in (
        result.output
    )
    assert "Traceback" not in result.output
