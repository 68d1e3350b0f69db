"""What a live database holds for a tenant table, and what it would hold as declared.

Both sides come from PostgreSQL itself: the live state from the catalog, the
desired state by creating the declared policies, default and trigger on a
scratch copy of the table inside a savepoint that is always rolled back, then
reading them back through the same catalog queries. Comparing the two is
therefore exact (PostgreSQL's own deparse on both sides), with no text
normalisation and no regexes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from tenantkit.rls import (
    TRIGGER_NAME,
    Policy,
    PolicyCommand,
    TableName,
    create_policy,
    create_trigger,
    quote_ident,
    set_tenant_default,
)
from tenantkit.sqlfiles import load_sql

__all__ = ["Deparsed", "LivePolicy", "LiveTable", "Trigger", "deparse", "read_live", "run_ddl"]

_SCRATCH: Final = TableName("tenantkit_scratch", "pg_temp")


@dataclass(frozen=True)
class LivePolicy:
    """A policy as the catalog holds it; expressions as PostgreSQL deparses them."""

    name: str
    command: PolicyCommand
    restrictive: bool
    roles: tuple[str, ...]
    qual: str | None
    with_check: str | None


@dataclass(frozen=True)
class Trigger:
    """A trigger's definition apart from its table: comparable across tables."""

    function: str
    type: int
    enabled: str
    args: tuple[str, ...]
    columns: str
    has_condition: bool


@dataclass(frozen=True)
class LiveTable:
    """One table's tenancy-relevant state in the live database."""

    oid: int
    row_security: bool
    force: bool
    privileges: frozenset[str]
    policies: dict[str, LivePolicy] = field(default_factory=dict)
    tenant_default: str | None = None
    trigger: Trigger | None = None


def _rows(conn: Connection, name: str, **params: Any) -> list[Any]:
    return list(conn.execute(text(load_sql(name)), params).mappings())


def _policies(conn: Connection, oid: int) -> dict[str, LivePolicy]:
    return {
        row["name"]: LivePolicy(
            name=row["name"],
            command=row["command"],
            restrictive=row["restrictive"],
            roles=tuple(row["roles"]),
            qual=row["qual"],
            with_check=row["with_check"],
        )
        for row in _rows(conn, "catalog/policies.sql", table_oid=oid)
    }


def _default(conn: Connection, oid: int, column: str) -> str | None:
    rows = _rows(conn, "catalog/column_default.sql", table_oid=oid, column_name=column)
    return cast("str | None", rows[0]["default_expr"]) if rows else None


def _trigger(conn: Connection, oid: int) -> Trigger | None:
    rows = _rows(conn, "catalog/trigger.sql", table_oid=oid, trigger_name=TRIGGER_NAME)
    if not rows:
        return None
    row = rows[0]
    raw = bytes(row["args"])
    return Trigger(
        function=row["function"],
        type=row["type"],
        enabled=row["enabled"],
        # tgargs: each argument NUL-terminated.
        args=tuple(a.decode() for a in raw.split(b"\x00")[:-1]),
        columns=row["columns"],
        has_condition=row["has_condition"],
    )


def read_live(
    conn: Connection, table: TableName, *, app_role: str, tenant_column: str
) -> LiveTable | None:
    """The live state of `table` (None when it does not exist)."""
    rows = _rows(conn, "catalog/table.sql", table_name=table.sql, app_role=app_role)
    if not rows:
        return None
    row = rows[0]
    oid = int(row["oid"])
    return LiveTable(
        oid=oid,
        row_security=row["row_security"],
        force=row["force"],
        privileges=frozenset(row["privileges"]),
        policies=_policies(conn, oid),
        tenant_default=_default(conn, oid, tenant_column),
        trigger=_trigger(conn, oid),
    )


@dataclass(frozen=True)
class Deparsed:
    """Declared objects as PostgreSQL stores them; None where PostgreSQL refused one."""

    policies: dict[str, LivePolicy | None]
    tenant_default: str | None
    trigger: Trigger | None


def deparse(
    conn: Connection,
    table: TableName,
    policies: Sequence[Policy],
    *,
    tenant_column: str,
    default_to_bound_org: bool = False,
    refuse_tenant_change: bool = False,
    extra_columns: Iterable[tuple[str, str]] = (),
) -> Deparsed:
    """Create the declared objects on a scratch copy of `table`, read them back, roll back.

    `table` must exist; `extra_columns` (name, SQL type) are declared columns
    it does not have yet, so policies can name them. Nothing survives the
    call: everything happens in a savepoint that is rolled back.
    """
    found: dict[str, LivePolicy | None] = {}
    default: str | None = None
    trigger: Trigger | None = None
    outer = conn.begin_nested()
    try:
        run_ddl(conn, f"CREATE TEMP TABLE {quote_ident(_SCRATCH.name)} (LIKE {table.sql})")
        for name, sql_type in extra_columns:
            run_ddl(conn, f"ALTER TABLE {_SCRATCH.sql} ADD COLUMN {quote_ident(name)} {sql_type}")
        oid = int(
            conn.execute(
                text("SELECT pg_catalog.to_regclass(:name)::oid"), {"name": _SCRATCH.sql}
            ).scalar_one()
        )
        for policy in policies:
            # Roles do not change how an expression deparses; PUBLIC avoids
            # depending on the app role existing yet.
            created = _attempt(conn, create_policy(_SCRATCH, policy, ["public"]))
            found[policy.name] = None
            if created:
                found[policy.name] = _policies(conn, oid).get(policy.name)
        if default_to_bound_org and _attempt(conn, set_tenant_default(_SCRATCH, tenant_column)):
            default = _default(conn, oid, tenant_column)
        if refuse_tenant_change and _attempt(conn, create_trigger(_SCRATCH, tenant_column)):
            trigger = _trigger(conn, oid)
    finally:
        outer.rollback()
    return Deparsed(policies=found, tenant_default=default, trigger=trigger)


def run_ddl(conn: Connection, statement: str) -> None:
    """Run generated DDL verbatim: no bind-parameter or `%` parsing of its text.

    Policy expressions are SQL written by developers; a `:name` or `%` inside
    one must reach PostgreSQL unchanged.
    """
    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _attempt(conn: Connection, statement: str) -> bool:
    # Its own savepoint: a custom expression PostgreSQL refuses (a function not
    # created yet, a typo) leaves that object undeparsed, not the whole table.
    savepoint = conn.begin_nested()
    try:
        run_ddl(conn, statement)
    except DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True
