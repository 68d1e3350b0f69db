"""Declared tables on Citus: tenant tables distributed by their tenant column, co-located,
shared tables as reference tables (`tenantkit distribute`, `op.distribute_table`).

Each table's current placement is read from Citus's catalog first, so a run is
idempotent: a table already placed as declared is left alone, and one placed
otherwise (another distribution column, a reference table where a tenant table
is declared, tenant tables in different co-location groups) is a typed
refusal naming the fix, never a silent redistribution.

Order matters on Citus, and the plan keeps it:

- the tenant column's default (`tenantkit.current_org_id()`) is set *before*
  `create_distributed_table`: afterwards Citus refuses any ALTER of the
  distribution column ("cannot execute ALTER TABLE command involving partition
  column");
- tenantkit's refuse-change trigger is dropped first (Citus distributes no
  table with triggers); Citus itself refuses every UPDATE that changes the
  distribution column, so the promise still holds;
- tables are placed in the order given (callers pass SQLAlchemy's
  foreign-key order), reference tables before the tenant tables that point at
  them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import Connection, Table, text

from tenantkit.errors import TenantkitError
from tenantkit.rls import (
    TENANT_DEFAULT,
    TRIGGER_NAME,
    TableName,
    TenancySpec,
    quote_ident,
    quote_literal,
)
from tenantkit.sqlfiles import load_sql
from tenantkit.tables.declare import SharedTable, declaration_of

__all__ = [
    "CitusUnavailable",
    "DistributionError",
    "NotDeclared",
    "Placement",
    "Step",
    "Target",
    "WrongDistribution",
    "citus_version",
    "distribute",
    "offline_steps",
    "pending",
    "placement_of",
    "plan_distribution",
    "targets_of",
    "undistribute_step",
]

#: Citus's own name for "co-locate with the other tables of this column type".
DEFAULT_COLOCATION: Final = "default"


class DistributionError(TenantkitError):
    """Declared tables cannot be placed on Citus as declared."""

    code = "distribution_error"


class CitusUnavailable(DistributionError):
    """The database has no Citus extension."""

    code = "citus_unavailable"


class NotDeclared(DistributionError):
    """A table to distribute is not declared (`tenant_table` / `shared_table`) or missing."""

    code = "not_declared"


class WrongDistribution(DistributionError):
    """A table is already placed otherwise, or cannot be placed as declared."""

    code = "wrong_distribution"


@dataclass(frozen=True)
class Target:
    """One table to place: a tenant table (its tenant column) or a reference table."""

    table: TableName
    #: None: a shared table, placed as a reference table.
    tenant_column: str | None = None
    default_to_bound_org: bool = True
    #: The declaration's flavour; only "citus" policies are accepted on distributed tables.
    flavour: str = "citus"

    @property
    def reference(self) -> bool:
        return self.tenant_column is None


Kind = Literal["local", "distributed", "reference", "citus_local"]


@dataclass(frozen=True)
class Placement:
    """Where Citus holds a table now."""

    oid: int
    kind: Kind
    #: The distribution column of a distributed table.
    column: str | None
    colocation: int | None
    has_column: bool
    tenant_default: str | None
    has_trigger: bool


@dataclass(frozen=True)
class Step:
    """One statement of a plan, with what it does in words."""

    table: TableName
    action: str
    sql: str


def _one(conn: Connection, name: str, **params: Any) -> Any:
    return conn.execute(text(load_sql(name)), params).mappings().first()


def citus_version(conn: Connection) -> str | None:
    """The citus extension's version in this database, or None."""
    row = _one(conn, "catalog/citus_installed.sql")
    return None if row is None else str(row["version"])


def placement_of(conn: Connection, table: TableName, column: str = "") -> Placement | None:
    """How Citus holds `table` (None: no such table). Needs the extension."""
    row = _one(conn, "catalog/citus_table.sql", table_name=table.sql, column_name=column)
    if row is None:
        return None
    method, replication = row["method"], row["replication"]
    kind: Kind
    if method is None:
        kind = "local"
    elif method == "h":
        kind = "distributed"
    elif replication == "t":
        kind = "reference"
    else:
        kind = "citus_local"
    oid = int(row["oid"])
    default_row = _one(conn, "catalog/column_default.sql", table_oid=oid, column_name=column)
    trigger = _one(conn, "catalog/trigger.sql", table_oid=oid, trigger_name=TRIGGER_NAME)
    return Placement(
        oid=oid,
        kind=kind,
        column=row["column_name"],
        colocation=row["colocation"] if kind == "distributed" else None,
        has_column=bool(row["has_column"]),
        tenant_default=None if default_row is None else default_row["default_expr"],
        has_trigger=trigger is not None,
    )


def targets_of(tables: Iterable[Table]) -> list[Target]:
    """The declared tables among `tables`, in their order, as placement targets."""
    found: list[Target] = []
    for table in tables:
        name = TableName(table.name, table.schema)
        declaration = declaration_of(table)
        if isinstance(declaration, TenancySpec):
            found.append(
                Target(
                    name,
                    declaration.tenant_column,
                    declaration.default_to_bound_org,
                    declaration.flavour,
                )
            )
        elif isinstance(declaration, SharedTable):
            found.append(Target(name))
    return found


def _require_citus(conn: Connection) -> None:
    if citus_version(conn) is None:
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        raise CitusUnavailable(
            f"database {database} has no Citus: the citus extension is not installed "
            "(CREATE EXTENSION citus on the coordinator and every worker, then add the "
            "workers with citus_add_node)"
        )


def _fn(name: str, *args: str) -> str:
    return f"SELECT pg_catalog.{name}({', '.join(args)})"


def plan_distribution(
    conn: Connection, targets: Sequence[Target], *, colocate_with: TableName | None = None
) -> list[Step]:
    """The statements placing `targets` as declared (empty when they already are).

    Tenant tables are co-located with the first of them already distributed,
    else with `colocate_with`, else with Citus's default group for their column
    type (so every uuid tenant table lands in one group).
    Raises `CitusUnavailable` without the extension, `NotDeclared` for a missing
    table, `WrongDistribution` for one placed otherwise or not placeable.
    """
    _require_citus(conn)
    steps: list[Step] = []
    placements = {t.table: _placement(conn, t) for t in targets}
    anchor = _colocation_anchor(targets, placements) or colocate_with
    distributed: list[Target] = []
    for target in targets:
        placement = placements[target.table]
        if target.reference:
            steps += _reference_steps(target, placement)
            continue
        tenant = _tenant_steps(target, placement, anchor)
        if tenant:
            distributed.append(target)
        steps += tenant
        if anchor is None:
            anchor = target.table  # the first one distributed anchors the rest
    return _around_foreign_keys(conn, steps, distributed, placements)


def _around_foreign_keys(
    conn: Connection,
    steps: list[Step],
    distributed: list[Target],
    placements: dict[TableName, Placement],
) -> list[Step]:
    # Citus refuses a local table referencing a distributed one, and the referencing
    # tenant table cannot go first either (its key would point at a local table):
    # foreign keys between tables distributed in this run are dropped first and
    # re-created once all are distributed (then co-located, so Citus accepts them).
    if not distributed:
        return steps
    oids = {placements[t.table].oid for t in distributed}
    rows = conn.execute(
        text(load_sql("catalog/citus_foreign_keys.sql")), {"table_oids": sorted(oids)}
    ).mappings()
    drop: list[Step] = []
    add: list[Step] = []
    for row in rows:
        referencing = str(row["referencing"])
        if int(row["referencing_oid"]) not in oids:
            raise WrongDistribution(
                f"{referencing} references a table distributed now ({row['definition']}) but is "
                "not distributed itself: declare it a tenant table (distributed with the "
                "others) or drop its foreign key; Citus refuses a local table referencing a "
                "distributed one"
            )
        name = quote_ident(str(row["name"]))
        table = TableName(referencing)
        drop.append(
            Step(
                table,
                f"drop foreign key {row['name']} until both tables are distributed",
                f"ALTER TABLE {referencing} DROP CONSTRAINT {name}",
            )
        )
        add.append(
            Step(
                table,
                f"re-create foreign key {row['name']} (co-located)",
                f"ALTER TABLE {referencing} ADD CONSTRAINT {name} {row['definition']}",
            )
        )
    return [*drop, *steps, *add]


def _placement(conn: Connection, target: Target) -> Placement:
    placement = placement_of(conn, target.table, target.tenant_column or "")
    if placement is None:
        raise NotDeclared(
            f"{target.table}: no such table in this database; create it first "
            "(alembic upgrade head), then distribute"
        )
    if not target.reference and not placement.has_column:
        raise WrongDistribution(
            f"{target.table} has no column {target.tenant_column!r}, its declared tenant "
            "column; tenant tables are distributed by it"
        )
    return placement


def _colocation_anchor(
    targets: Sequence[Target], placements: dict[TableName, Placement]
) -> TableName | None:
    # Tenant tables must share one co-location group, so joins and foreign keys
    # between them stay on one shard: the first already distributed anchors the rest.
    groups: dict[int, TableName] = {}
    for target in targets:
        placement = placements[target.table]
        if target.reference or placement.kind != "distributed":
            continue
        if placement.column != target.tenant_column:
            continue  # refused below, with its own message
        assert placement.colocation is not None
        groups.setdefault(placement.colocation, target.table)
    if len(groups) > 1:
        first, *others = groups.values()
        fixes = "; ".join(
            f"SELECT update_distributed_table_colocation({quote_literal(o.sql)}, "
            f"colocate_with => {quote_literal(first.sql)})"
            for o in others
        )
        raise WrongDistribution(
            f"tenant tables {', '.join(str(t) for t in groups.values())} are distributed in "
            f"different co-location groups; co-locate them: {fixes}"
        )
    return next(iter(groups.values()), None)


def _tenant_steps(target: Target, placement: Placement, anchor: TableName | None) -> list[Step]:
    table, column = target.table, target.tenant_column
    assert column is not None
    if placement.kind == "distributed":
        if placement.column != column:
            raise WrongDistribution(
                f"{table} is distributed by {placement.column!r}, not by its tenant column "
                f"{column!r}; redistribute it: SELECT alter_distributed_table("
                f"{quote_literal(table.sql)}, distribution_column => {quote_literal(column)})"
            )
        return []  # co-location with the others was checked with the anchor
    if placement.kind in ("reference", "citus_local"):
        raise WrongDistribution(
            f"{table} is a Citus {placement.kind.replace('_', ' ')} table, but it is declared a "
            f"tenant table: undistribute it (SELECT undistribute_table("
            f"{quote_literal(table.sql)})), then distribute it by {column}"
        )
    if target.flavour != "citus":
        raise WrongDistribution(
            f"{table} is declared with flavour={target.flavour!r}: its policies use subqueries, "
            "which Citus refuses on a distributed table; declare it "
            "tenant_table(..., flavour=\"citus\"), migrate, then distribute"
        )
    steps: list[Step] = []
    if target.default_to_bound_org and placement.tenant_default != TENANT_DEFAULT:
        steps.append(
            Step(
                table,
                f"default {column} to the bound org (Citus refuses it once distributed)",
                f"ALTER TABLE {table.sql} ALTER COLUMN {quote_ident(column)} SET DEFAULT "
                f"{TENANT_DEFAULT}",
            )
        )
    if placement.has_trigger:
        steps.append(
            Step(
                table,
                f"drop {TRIGGER_NAME} (Citus distributes no table with triggers and refuses "
                f"changes of {column} itself)",
                f"DROP TRIGGER {TRIGGER_NAME} ON {table.sql}",
            )
        )
    colocate = DEFAULT_COLOCATION if anchor is None else anchor.sql
    with_what = "" if anchor is None else f", co-located with {anchor}"
    steps.append(
        Step(
            table,
            f"distribute by {column}{with_what}",
            _fn(
                "create_distributed_table",
                quote_literal(table.sql),
                quote_literal(column),
                f"colocate_with => {quote_literal(colocate)}",
            ),
        )
    )
    return steps


def offline_steps(target: Target, *, colocate_with: TableName | None = None) -> list[Step]:
    """The steps for a table not yet placed, without reading the catalog (`alembic
    upgrade --sql`): the default first, the trigger dropped if present, then the placement."""
    fresh = Placement(0, "local", None, None, True, None, True)
    if target.reference:
        return _reference_steps(target, fresh)
    steps = _tenant_steps(target, fresh, colocate_with)
    # Offline nothing is known: drop the trigger only if there is one.
    return [
        Step(s.table, s.action, s.sql.replace("DROP TRIGGER ", "DROP TRIGGER IF EXISTS ", 1))
        for s in steps
    ]


def pending(
    conn: Connection, targets: Sequence[Target], new: Collection[TableName]
) -> list[tuple[Target, TableName | None]]:
    """For autogenerate: the targets that need placing, each with its co-location anchor.

    `new` are tables the migration creates (not in the database yet). Empty
    without Citus. Mis-placed existing tables raise as in `plan_distribution`.
    """
    if citus_version(conn) is None:
        return []
    existing = [t for t in targets if t.table not in new]
    placements = {t.table: _placement(conn, t) for t in existing}
    anchor = _colocation_anchor(existing, placements)
    found: list[tuple[Target, TableName | None]] = []
    for target in targets:
        placement = placements.get(target.table)
        if placement is None:
            offline_steps(target)  # refuses what cannot be placed (a plain-flavour table)
        elif target.reference:
            if not _reference_steps(target, placement):
                continue
        elif not _tenant_steps(target, placement, anchor):
            continue
        found.append((target, None if target.reference else anchor))
        if anchor is None and not target.reference:
            anchor = target.table
    return found


def undistribute_step(table: TableName) -> Step:
    """Back to a plain coordinator table (the reverse of either placement)."""
    return Step(
        table,
        "undistribute (with the tables its foreign keys link)",
        _fn(
            "undistribute_table",
            quote_literal(table.sql),
            "cascade_via_foreign_keys => true",
        ),
    )


def _reference_steps(target: Target, placement: Placement) -> list[Step]:
    if placement.kind == "reference":
        return []
    if placement.kind == "distributed":
        raise WrongDistribution(
            f"{target.table} is distributed by {placement.column!r}, but it is declared a "
            f"shared table (a reference table): undistribute it (SELECT undistribute_table("
            f"{quote_literal(target.table.sql)})), then rerun"
        )
    return [
        Step(
            target.table,
            "reference table (a copy on every node)",
            _fn("create_reference_table", quote_literal(target.table.sql)),
        )
    ]


def distribute(
    conn: Connection, targets: Sequence[Target], *, colocate_with: TableName | None = None
) -> list[Step]:
    """Place `targets` as declared, in order; returns the steps run (empty: nothing to do).

    Runs on `conn` in its transaction: the caller commits (Citus's DDL is
    transactional on the coordinator).
    """
    steps = plan_distribution(conn, targets, colocate_with=colocate_with)
    for step in steps:
        conn.exec_driver_sql(step.sql, execution_options={"no_parameters": True})
    return steps
