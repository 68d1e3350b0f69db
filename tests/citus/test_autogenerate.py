"""Autogenerate on Citus: new tables get their tenancy, then their placement; a database
that matches the models yields an empty migration (Alembic's own comparison included)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import CreateTableOp, UpgradeOps
from alembic.runtime.migration import MigrationContext

import tenantkit.alembic
from tenantkit.alembic import CreateTenantPolicyOp, DistributeTablesOp, EnableTenancyOp
from tenantkit.doctor import run_checks
from tenantkit.tables import declarations
from tenantkit.testing import TestDatabase
from tests.citus.models import Base


def _context(conn: sa.Connection, db: TestDatabase) -> MigrationContext:
    options = tenantkit.alembic.options(roles=db.roles)
    return MigrationContext.configure(
        connection=conn, opts={"target_metadata": Base.metadata, **options}
    )


def _autogenerate(conn: sa.Connection, db: TestDatabase) -> list[MigrateOperation]:
    ops = produce_migrations(_context(conn, db), Base.metadata).upgrade_ops
    assert ops is not None
    return list(ops.ops)


def _kinds(ops: list[Any]) -> list[str]:
    return [type(op).__name__ for op in ops]


def test_new_tables_are_created_made_tenant_tables_then_placed_and_then_nothing(
    citus_owner: sa.Engine, citus_db: TestDatabase
) -> None:
    with citus_owner.connect() as conn:
        ops = _autogenerate(conn, citus_db)
        assert [op.table_name for op in ops if isinstance(op, CreateTableOp)] == [
            "plans",
            "docs",
            "comments",
        ]
        assert sum(isinstance(op, EnableTenancyOp) for op in ops) == 2
        assert sum(isinstance(op, CreateTenantPolicyOp) for op in ops) == 8
        # Placement last: after every table's tenancy, so the default exists first.
        assert isinstance(ops[-1], DistributeTablesOp)
        assert _kinds(ops).count("DistributeTablesOp") == 1
        code = render_python_code(UpgradeOps(ops=ops))
        assert "op.distribute_tables(['docs', 'comments'], reference=['plans'])" in code
        assert "IS DISTINCT FROM NULL" in code
        assert "refuse_tenant_change=False" in code  # Citus refuses the change itself
        operations = Operations(_context(conn, citus_db))
        for op in ops:
            operations.invoke(op)
        conn.commit()

        # Up to date: nothing to do, on a cluster whose tables are distributed.
        again = _autogenerate(conn, citus_db)
        assert again == [], render_python_code(UpgradeOps(ops=again))
        placed = conn.exec_driver_sql(
            "SELECT logicalrelid::text, partmethod::text FROM pg_dist_partition "
            "WHERE logicalrelid::text IN ('docs', 'comments', 'plans') ORDER BY 1"
        ).all()
        assert [tuple(r) for r in placed] == [("comments", "h"), ("docs", "h"), ("plans", "n")]
        conn.rollback()

    # The reverse (downgrade) undistributes, then drops tenancy and tables.
    with citus_owner.connect() as conn:
        operations = Operations(_context(conn, citus_db))
        for op in reversed(ops):
            operations.invoke(op.reverse())
        assert conn.exec_driver_sql("SELECT to_regclass('docs')").scalar_one() is None
        conn.rollback()

    engine = sa.create_engine(citus_db.url("owner"), poolclass=sa.NullPool)
    try:
        findings = run_checks(
            engine, app_role=citus_db.roles.app, declarations=declarations(Base.metadata)
        )
    finally:
        engine.dispose()
    assert [f for f in findings if f.severity == "error"] == []
