"""Alembic operations placing tables on Citus, each reversible.

    op.distribute_table("documents")                       # by org_id, co-located
    op.distribute_table("comments", colocate_with="documents")
    op.distribute_table("plans", reference=True)           # a shared table

The placement itself is `tenantkit.tables._distribute` (what `tenantkit
distribute` runs): idempotent, the tenant default set before distribution,
typed refusals. Autogenerate emits these on a Citus database for declared
tables not placed yet (`_compare`), after their tenancy operations.
"""

from __future__ import annotations

from typing import Any

from alembic.operations import MigrateOperation, Operations

from tenantkit.rls import TableName
from tenantkit.tables._distribute import (
    Step,
    Target,
    distribute,
    offline_steps,
    undistribute_step,
)

__all__ = ["DistributeTableOp", "UndistributeTableOp"]


class _PlacementOp(MigrateOperation):
    def __init__(
        self,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        reference: bool = False,
        colocate_with: str | None = None,
        default_to_bound_org: bool = True,
    ) -> None:
        self.table_name = table_name
        self.schema = schema
        self.tenant_column = tenant_column
        self.reference = reference
        self.colocate_with = colocate_with
        self.default_to_bound_org = default_to_bound_org

    @property
    def table(self) -> TableName:
        return TableName(self.table_name, self.schema)

    @property
    def target(self) -> Target:
        column = None if self.reference else self.tenant_column
        return Target(self.table, column, self.default_to_bound_org)

    @property
    def anchor(self) -> TableName | None:
        if self.colocate_with is None:
            return None
        return TableName(self.colocate_with, self.schema)

    def settings(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "tenant_column": self.tenant_column,
            "reference": self.reference,
            "colocate_with": self.colocate_with,
            "default_to_bound_org": self.default_to_bound_org,
        }


@Operations.register_operation("distribute_table")
class DistributeTableOp(_PlacementOp):
    """Distribute a tenant table by its tenant column, or make a shared one a reference table."""

    @classmethod
    def distribute_table(
        cls,
        operations: Operations,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        reference: bool = False,
        colocate_with: str | None = None,
        default_to_bound_org: bool = True,
    ) -> None:
        """Place a table on Citus (idempotent; the tenant default is set first)."""
        operations.invoke(
            cls(
                table_name,
                schema=schema,
                tenant_column=tenant_column,
                reference=reference,
                colocate_with=colocate_with,
                default_to_bound_org=default_to_bound_org,
            )
        )

    def reverse(self) -> UndistributeTableOp:
        return UndistributeTableOp(self.table_name, **self.settings())

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("distribute_table", self.schema, self.table_name)


@Operations.register_operation("undistribute_table")
class UndistributeTableOp(_PlacementOp):
    """Make a distributed or reference table a plain coordinator table again."""

    @classmethod
    def undistribute_table(
        cls,
        operations: Operations,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        reference: bool = False,
        colocate_with: str | None = None,
        default_to_bound_org: bool = True,
    ) -> None:
        """The reverse of distribute_table (Citus's undistribute_table)."""
        operations.invoke(
            cls(
                table_name,
                schema=schema,
                tenant_column=tenant_column,
                reference=reference,
                colocate_with=colocate_with,
                default_to_bound_org=default_to_bound_org,
            )
        )

    def reverse(self) -> DistributeTableOp:
        return DistributeTableOp(self.table_name, **self.settings())

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("undistribute_table", self.schema, self.table_name)


def _emit(operations: Operations, steps: list[Step]) -> None:
    context = operations.get_context()
    for step in steps:
        context.impl.static_output(step.sql + context.impl.command_terminator)


@Operations.implementation_for(DistributeTableOp)
def _distribute(operations: Operations, op: DistributeTableOp) -> None:
    if operations.get_context().as_sql:
        _emit(operations, offline_steps(op.target, colocate_with=op.anchor))
        return
    distribute(operations.get_bind(), [op.target], colocate_with=op.anchor)


@Operations.implementation_for(UndistributeTableOp)
def _undistribute(operations: Operations, op: UndistributeTableOp) -> None:
    step = undistribute_step(op.table)
    if operations.get_context().as_sql:
        _emit(operations, [step])
        return
    operations.get_bind().exec_driver_sql(step.sql, execution_options={"no_parameters": True})
