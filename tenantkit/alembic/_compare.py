"""Autogenerate: declared tenant tables against the live database, exactly.

For each declared table the live catalog state is read, and the declared
policies, tenant default and trigger are built on a scratch copy of the table
in a rolled-back savepoint so PostgreSQL deparses both sides the same way
(`tenantkit.tables.catalog`). What differs becomes the smallest reversible
set of operations: an up-to-date database yields none, and one changed rule
yields one `alter_tenant_policy`.

Only objects tenantkit owns are compared: policies named `tenantkit_*`, the
app role's own grants, the tenant column's default and tenantkit's trigger.
An undeclared table is never touched (removing a declaration by accident
must not switch RLS off); `shared_table(...)` opts a table out explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alembic.autogenerate import comparators
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import CreateTableOp, DropTableOp, MigrateOperation, UpgradeOps
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlalchemy import Connection, Table

from tenantkit.alembic._distribute import DistributeTablesOp
from tenantkit.alembic._ops import (
    AlterTenancyOp,
    AlterTenantPolicyOp,
    CreateTenantPolicyOp,
    DropTenantPolicyOp,
    EnableTenancyOp,
)
from tenantkit.alembic._preflight import UndeclaredTenantTableError, check_environment
from tenantkit.rls import POLICY_PREFIX, TableName, TenancySpec
from tenantkit.sqlfiles import DatabaseRoles
from tenantkit.tables._distribute import pending, targets_of
from tenantkit.tables.catalog import Deparsed, LivePolicy, LiveTable, deparse, read_live
from tenantkit.tables.declare import (
    INFO_KEY,
    SharedTable,
    UndeclaredTenantTable,
    check_declared,
    declaration_of,
)

__all__ = ["enable_ops", "plan_table", "teardown_ops"]

_Key = tuple[str | None, str]


def enable_ops(table: TableName, spec: TenancySpec) -> list[MigrateOperation]:
    """Operations turning a table without tenancy into `spec`."""
    ops: list[MigrateOperation] = [
        EnableTenancyOp(table.name, schema=table.schema, **spec.table_settings())
    ]
    ops += (CreateTenantPolicyOp.from_policy(table, policy) for policy in spec.command_policies())
    return ops


def _managed(live: LiveTable) -> dict[str, LivePolicy]:
    return {n: p for n, p in live.policies.items() if n.startswith(POLICY_PREFIX)}


def _has_tenancy(live: LiveTable) -> bool:
    return live.row_security or live.force or bool(_managed(live)) or live.trigger is not None


def _drop(table: TableName, live: LivePolicy, app_role: str) -> DropTenantPolicyOp:
    return DropTenantPolicyOp(
        table.name,
        live.name,
        command=live.command,
        using=live.qual,
        with_check=live.with_check,
        restrictive=live.restrictive,
        roles=None if live.roles == (app_role,) else live.roles,
        schema=table.schema,
    )


def plan_table(
    table: TableName,
    spec: TenancySpec,
    live: LiveTable,
    desired: Deparsed,
    *,
    app_role: str,
) -> list[MigrateOperation]:
    """Operations taking an existing table from `live` to `spec` (empty when equal).

    `desired` is `spec` as PostgreSQL deparses it, with the tenant default
    and trigger always included (they are the reference for both on and off).
    """
    if not _has_tenancy(live):
        return enable_ops(table, spec)
    ops: list[MigrateOperation] = []
    managed = _managed(live)
    wanted = {p.name: p for p in spec.policies()}
    for name, stale in managed.items():
        if name not in wanted:
            ops.append(_drop(table, stale, app_role))
    for name, policy in wanted.items():
        current = managed.get(name)
        deparsed = desired.policies.get(name)
        if current is None:
            ops.append(CreateTenantPolicyOp.from_policy(table, policy))
        elif (current.command, current.restrictive) != (policy.command, policy.restrictive):
            # ALTER POLICY can change neither: drop and create.
            ops.append(_drop(table, current, app_role))
            ops.append(CreateTenantPolicyOp.from_policy(table, policy))
        elif (
            deparsed is None  # PostgreSQL refused the declared SQL: cannot prove it equal
            or (current.qual, current.with_check) != (deparsed.qual, deparsed.with_check)
            or current.roles != (app_role,)
        ):
            ops.append(
                AlterTenantPolicyOp(
                    table.name,
                    name,
                    using=policy.using,
                    with_check=policy.with_check,
                    existing_using=current.qual,
                    existing_with_check=current.with_check,
                    existing_roles=None if current.roles == (app_role,) else current.roles,
                    schema=table.schema,
                )
            )
    alter = _alter_settings(table, spec, live, desired)
    if alter is not None:
        ops.append(alter)
    return ops


def _alter_settings(
    table: TableName, spec: TenancySpec, live: LiveTable, desired: Deparsed
) -> AlterTenancyOp | None:
    changes: dict[str, Any] = {}

    def change(setting: str, want: Any, have: Any) -> None:
        if want != have:
            changes[setting] = want
            changes["existing_" + setting] = have

    change("row_security", True, live.row_security)
    change("force", True, live.force)
    change("privileges", frozenset(spec.privileges), live.privileges)
    ours_default = desired.tenant_default is not None and live.tenant_default == (
        desired.tenant_default
    )
    if spec.default_to_bound_org:
        change("default_to_bound_org", True, ours_default)
    elif ours_default:
        change("default_to_bound_org", False, True)
    ours_trigger = desired.trigger is not None and live.trigger == desired.trigger
    if spec.wants_trigger:  # never for Citus: it refuses the change itself
        change("refuse_tenant_change", True, ours_trigger)
    elif live.trigger is not None:
        change("refuse_tenant_change", False, True)
    if not changes:
        return None
    return AlterTenancyOp(
        table.name, schema=table.schema, tenant_column=spec.tenant_column, **changes
    )


def teardown_ops(
    table: TableName,
    live: LiveTable,
    desired: Deparsed,
    *,
    app_role: str,
    tenant_column: str,
    revoke: bool,
) -> list[MigrateOperation]:
    """Operations removing tenantkit's objects from a table (exactly reversible)."""
    ops: list[MigrateOperation] = [
        _drop(table, policy, app_role) for policy in _managed(live).values()
    ]
    changes: dict[str, Any] = {}
    if live.row_security:
        changes.update(row_security=False, existing_row_security=True)
    if live.force:
        changes.update(force=False, existing_force=True)
    if revoke and live.privileges:
        changes.update(privileges=(), existing_privileges=live.privileges)
    if desired.tenant_default is not None and live.tenant_default == desired.tenant_default:
        changes.update(default_to_bound_org=False, existing_default_to_bound_org=True)
    if live.trigger is not None:
        changes.update(refuse_tenant_change=False, existing_refuse_tenant_change=True)
    if changes:
        ops.append(
            AlterTenancyOp(table.name, schema=table.schema, tenant_column=tenant_column, **changes)
        )
    return ops


def _app_role(context: AutogenContext) -> str:
    roles = context.migration_context.opts.get("tenantkit_roles")
    return roles.app if isinstance(roles, DatabaseRoles) else DatabaseRoles().app


class _Planner:
    """Reads and deparses one autogenerate run's tables on its connection."""

    def __init__(self, context: AutogenContext) -> None:
        assert context.connection is not None
        self.context = context
        self.conn: Connection = context.connection
        self.app_role = _app_role(context)

    def live(self, table: TableName, tenant_column: str) -> LiveTable | None:
        return read_live(self.conn, table, app_role=self.app_role, tenant_column=tenant_column)

    def desired(
        self, table: TableName, spec: TenancySpec | None, tenant_column: str, metadata: Table | None
    ) -> Deparsed:
        return deparse(
            self.conn,
            table,
            spec.policies() if spec is not None else (),
            tenant_column=tenant_column,
            default_to_bound_org=True,
            refuse_tenant_change=True,
            extra_columns=self._missing_columns(table, metadata),
        )

    def _missing_columns(self, table: TableName, metadata: Table | None) -> list[tuple[str, str]]:
        if metadata is None:
            return []
        inspector = self.context.inspector
        have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        dialect = self.conn.dialect
        missing = [c for c in metadata.columns if c.name not in have]
        return [(c.name, c.type.compile(dialect=dialect)) for c in missing]

    def for_declared(self, table: Table) -> list[MigrateOperation]:
        name = TableName(table.name, table.schema)
        declaration = declaration_of(table)
        if isinstance(declaration, TenancySpec):
            live = self.live(name, declaration.tenant_column)
            if live is None:
                return enable_ops(name, declaration)
            desired = self.desired(name, declaration, declaration.tenant_column, table)
            return plan_table(name, declaration, live, desired, app_role=self.app_role)
        if isinstance(declaration, SharedTable):
            return self.teardown(name, revoke=False)
        return []

    def teardown(self, name: TableName, *, revoke: bool) -> list[MigrateOperation]:
        live = self.live(name, "org_id")
        if live is None or not _has_tenancy(live):
            return []
        # The trigger names the tenant column; org_id is only the fallback.
        column = live.trigger.args[0] if live.trigger and live.trigger.args else "org_id"
        if column != "org_id":
            live = self.live(name, column)
            assert live is not None
        desired = self.desired(name, None, column, None)
        return teardown_ops(
            name, live, desired, app_role=self.app_role, tenant_column=column, revoke=revoke
        )


def _included(context: AutogenContext, table: Table, schemas: set[str | None]) -> bool:
    default_schema = context.dialect.default_schema_name if context.dialect else None
    schema = None if table.schema in (None, default_schema) else table.schema
    return (
        schema in schemas
        and context.run_name_filters(table.name, "table", {"schema_name": table.schema})
        and context.run_object_filters(table, table.name, "table", False, None)
    )


@comparators.dispatch_for("schema", priority=DispatchPriority.LAST)
def compare_tenancy(
    autogen_context: AutogenContext, upgrade_ops: UpgradeOps, schemas: set[str | None]
) -> PriorityDispatchResult:
    """The autogenerate hook; runs after Alembic's own table comparison.

    Raises `UndeclaredTenantTable` (so `alembic revision --autogenerate` and
    `alembic check` fail) when a table carrying the tenant column is neither
    declared nor opted out: it would otherwise be created without RLS.
    """
    included = [t for t in autogen_context.sorted_tables if _included(autogen_context, t, schemas)]
    try:
        check_declared(included)
    except UndeclaredTenantTable as exc:
        raise UndeclaredTenantTableError(exc.tables, exc.tenant_column) from None
    planner = _Planner(autogen_context)
    check_environment(planner.conn, planner.app_role)
    created: set[_Key] = set()
    for op in upgrade_ops.ops:
        if isinstance(op, CreateTableOp):
            created.add((op.schema, op.table_name))
            # Alembic writes Table.info into create_table(); the declaration is
            # Python, not DDL, and the operations below carry all it means.
            op.info.pop(INFO_KEY, None)
    after_create: dict[_Key, list[MigrateOperation]] = {}
    appended: list[MigrateOperation] = []
    for table in included:
        key = (table.schema, table.name)
        declaration = declaration_of(table)
        if key in created and isinstance(declaration, TenancySpec):
            after_create[key] = enable_ops(TableName(table.name, table.schema), declaration)
        elif key not in created:
            appended += planner.for_declared(table)
    before_drop = {
        (op.schema, op.table_name): planner.teardown(
            TableName(op.table_name, op.schema), revoke=True
        )
        for op in upgrade_ops.ops
        if isinstance(op, DropTableOp)
    }
    placed = _placement_ops(planner.conn, included, created)
    upgrade_ops.ops[:] = (
        list(_arrange(upgrade_ops.ops, after_create, before_drop)) + appended + placed
    )
    return PriorityDispatchResult.CONTINUE


def _placement_ops(
    conn: Connection, tables: list[Table], created: set[_Key]
) -> list[MigrateOperation]:
    # On Citus, declared tables not placed yet are distributed (tenant tables, by
    # their tenant column, co-located) or made reference tables (shared ones), last:
    # after their tenancy, so the tenant default exists before distribution. None
    # without Citus, and none when every table is placed as declared.
    new = {TableName(name, schema) for schema, name in created}
    # One operation per (schema, tenant column, default): foreign keys between the
    # tables it distributes are dropped and re-created around them.
    groups: dict[tuple[str | None, str, bool], dict[str, Any]] = {}
    for target, anchor in pending(conn, targets_of(tables), new):
        column = target.tenant_column or "org_id"
        key = (target.table.schema, column, target.default_to_bound_org)
        group = groups.setdefault(key, {"tables": [], "reference": [], "anchor": anchor})
        group["reference" if target.reference else "tables"].append(target.table.name)
    ops: list[MigrateOperation] = []
    for (schema, column, default), group in groups.items():
        anchor = group["anchor"]
        ops.append(
            DistributeTablesOp(
                group["tables"],
                reference=group["reference"],
                schema=schema,
                tenant_column=column,
                colocate_with=None if anchor is None else anchor.name,
                default_to_bound_org=default,
            )
        )
    return ops


def _arrange(
    ops: Iterable[MigrateOperation],
    after_create: dict[_Key, list[MigrateOperation]],
    before_drop: dict[_Key, list[MigrateOperation]],
) -> Iterable[MigrateOperation]:
    # A new table gets its tenancy right after CREATE TABLE; a dropped one
    # loses it right before DROP TABLE, so the downgrade restores both.
    for op in ops:
        if isinstance(op, DropTableOp):
            yield from before_drop.get((op.schema, op.table_name), [])
        yield op
        if isinstance(op, CreateTableOp):
            yield from after_create.get((op.schema, op.table_name), [])
