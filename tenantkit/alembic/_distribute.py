"""Alembic operations placing tables on Citus, each reversible.

    op.distribute_tables(["documents", "comments"], reference=["plans"])

Tenant tables are distributed by their tenant column, co-located with each
other; `reference` tables (declared shared) become reference tables. One
operation places several tables because foreign keys between tenant tables
must be dropped and re-created around their distribution (Citus refuses a
local table referencing a distributed one).

The placement itself is `tenantkit.tables._distribute` (what `tenantkit
distribute` runs): idempotent, the tenant default set before distribution,
typed refusals. Autogenerate emits this on a Citus database for declared
tables not placed yet (`_compare`), after their tenancy operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic.operations import MigrateOperation, Operations

from tenantkit.rls import TableName
from tenantkit.tables._distribute import (
    Step,
    Target,
    distribute,
    offline_steps,
    placement_of,
    undistribute_step,
)

__all__ = ["DistributeTablesOp", "UndistributeTablesOp"]


def _names(value: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"{what} is a list of table names")
    return tuple(value)


class _PlacementOp(MigrateOperation):
    def __init__(
        self,
        tables: Sequence[str] = (),
        *,
        reference: Sequence[str] = (),
        schema: str | None = None,
        tenant_column: str = "org_id",
        colocate_with: str | None = None,
        default_to_bound_org: bool = True,
    ) -> None:
        self.tables = _names(tables, "tables")
        self.reference = _names(reference, "reference")
        if not self.tables and not self.reference:
            raise ValueError("distribute_tables() needs tenant tables, reference tables or both")
        self.schema = schema
        self.tenant_column = tenant_column
        self.colocate_with = colocate_with
        self.default_to_bound_org = default_to_bound_org

    @property
    def targets(self) -> list[Target]:
        shared = [Target(TableName(n, self.schema)) for n in self.reference]
        tenant = [
            Target(TableName(n, self.schema), self.tenant_column, self.default_to_bound_org)
            for n in self.tables
        ]
        return shared + tenant  # reference tables first: tenant tables may point at them

    @property
    def anchor(self) -> TableName | None:
        if self.colocate_with is None:
            return None
        return TableName(self.colocate_with, self.schema)

    def settings(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "schema": self.schema,
            "tenant_column": self.tenant_column,
            "colocate_with": self.colocate_with,
            "default_to_bound_org": self.default_to_bound_org,
        }


@Operations.register_operation("distribute_tables")
class DistributeTablesOp(_PlacementOp):
    """Distribute tenant tables by their tenant column (co-located); make shared ones
    reference tables."""

    @classmethod
    def distribute_tables(
        cls,
        operations: Operations,
        tables: Sequence[str] = (),
        *,
        reference: Sequence[str] = (),
        schema: str | None = None,
        tenant_column: str = "org_id",
        colocate_with: str | None = None,
        default_to_bound_org: bool = True,
    ) -> None:
        """Place tables on Citus (idempotent; the tenant default is set first)."""
        operations.invoke(
            cls(
                tables,
                reference=reference,
                schema=schema,
                tenant_column=tenant_column,
                colocate_with=colocate_with,
                default_to_bound_org=default_to_bound_org,
            )
        )

    def reverse(self) -> UndistributeTablesOp:
        return UndistributeTablesOp(self.tables, **self.settings())

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("distribute_tables", self.schema, self.tables, self.reference)


@Operations.register_operation("undistribute_tables")
class UndistributeTablesOp(_PlacementOp):
    """Make distributed or reference tables plain coordinator tables again."""

    @classmethod
    def undistribute_tables(
        cls,
        operations: Operations,
        tables: Sequence[str] = (),
        *,
        reference: Sequence[str] = (),
        schema: str | None = None,
        tenant_column: str = "org_id",
        colocate_with: str | None = None,
        default_to_bound_org: bool = True,
    ) -> None:
        """The reverse of distribute_tables (Citus's undistribute_table, via foreign keys)."""
        operations.invoke(
            cls(
                tables,
                reference=reference,
                schema=schema,
                tenant_column=tenant_column,
                colocate_with=colocate_with,
                default_to_bound_org=default_to_bound_org,
            )
        )

    def reverse(self) -> DistributeTablesOp:
        return DistributeTablesOp(self.tables, **self.settings())

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("undistribute_tables", self.schema, self.tables, self.reference)


def _emit(operations: Operations, steps: list[Step]) -> None:
    context = operations.get_context()
    for step in steps:
        context.impl.static_output(step.sql + context.impl.command_terminator)


@Operations.implementation_for(DistributeTablesOp)
def _distribute(operations: Operations, op: DistributeTablesOp) -> None:
    if operations.get_context().as_sql:
        steps: list[Step] = []
        anchor = op.anchor
        for target in op.targets:
            steps += offline_steps(target, colocate_with=anchor)
            if anchor is None and not target.reference:
                anchor = target.table
        _emit(operations, steps)
        return
    distribute(operations.get_bind(), op.targets, colocate_with=op.anchor)


@Operations.implementation_for(UndistributeTablesOp)
def _undistribute(operations: Operations, op: UndistributeTablesOp) -> None:
    # Tenant tables first (they point at the reference tables); the cascade takes
    # the co-located tables linked by foreign keys along, so each is undone once.
    steps = [undistribute_step(t.table) for t in reversed(op.targets)]
    if operations.get_context().as_sql:
        _emit(operations, steps)
        return
    bind = operations.get_bind()
    for target, step in zip(reversed(op.targets), steps, strict=True):
        placement = placement_of(bind, target.table)
        if placement is not None and placement.kind != "local":
            bind.exec_driver_sql(step.sql, execution_options={"no_parameters": True})
