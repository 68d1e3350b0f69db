"""Marking SQLAlchemy tables (Core `Table` or ORM models) as tenant or shared tables.

The declaration lives in `Table.info["tenantkit"]`, so it travels with the
metadata that Alembic, `tenantkit policies` and `tenantkit doctor` read.
Declaring checks what can be checked at import time (the tenant column is a
NOT NULL uuid in the primary key; unique constraints include it), so a
mistake fails when the model loads, not in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar, overload

from sqlalchemy import (
    Column,
    FetchedValue,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)

from tenantkit.rls import Flavour, Rule, TableName, TenancySpec, any_member

__all__ = [
    "INFO_KEY",
    "Declaration",
    "SharedTable",
    "UndeclaredTenantTable",
    "check_declared",
    "declaration_of",
    "declarations",
    "shared_table",
    "table_of",
    "tenant_foreign_key",
    "tenant_table",
    "tenant_unique",
    "undeclared",
]

INFO_KEY: Final = "tenantkit"
#: tenantkit's own schema: its tables carry org_id and are never the app's to declare.
_OWN_SCHEMA: Final = "tenantkit"

T = TypeVar("T")


@dataclass(frozen=True)
class SharedTable:
    """An explicit opt-out: this table carries a tenant column but is not tenant-scoped."""

    reason: str


Declaration = TenancySpec | SharedTable


def table_of(target: object) -> Table:
    """The `Table` behind a `Table` or a mapped class."""
    if isinstance(target, Table):
        return target
    table = getattr(target, "__table__", None)
    if isinstance(table, Table):
        return table
    raise TypeError(f"expected a SQLAlchemy Table or a mapped class, not {target!r}")


@overload
def tenant_table(
    target: T,
    /,
    *,
    tenant_column: str = ...,
    read: Rule = ...,
    insert: Rule = ...,
    update: Rule = ...,
    delete: Rule = ...,
    default_to_bound_org: bool = ...,
    refuse_tenant_change: bool = ...,
    flavour: Flavour = ...,
) -> T: ...


@overload
def tenant_table(
    target: None = None,
    /,
    *,
    tenant_column: str = ...,
    read: Rule = ...,
    insert: Rule = ...,
    update: Rule = ...,
    delete: Rule = ...,
    default_to_bound_org: bool = ...,
    refuse_tenant_change: bool = ...,
    flavour: Flavour = ...,
) -> Callable[[T], T]: ...


def tenant_table(
    target: Any = None,
    /,
    *,
    tenant_column: str = "org_id",
    read: Rule | None = None,
    insert: Rule | None = None,
    update: Rule | None = None,
    delete: Rule | None = None,
    default_to_bound_org: bool = True,
    refuse_tenant_change: bool = True,
    flavour: Flavour = "postgres",
) -> Any:
    """Declare a tenant table: `tenant_table(table, ...)` or `@tenant_table(...)` on a model.

    Each rule says who in the bound org may run the command; the default is
    `any_member()`, and `deny()` withholds the command entirely.
    default_to_bound_org: the tenant column defaults to `tenantkit.current_org_id()`.
    refuse_tenant_change: a trigger refuses any UPDATE of the tenant column (42501).
    flavour: "citus" for distributed tables (no subqueries in policies).
    """
    spec = TenancySpec(
        tenant_column=tenant_column,
        read=any_member() if read is None else read,
        insert=any_member() if insert is None else insert,
        update=any_member() if update is None else update,
        delete=any_member() if delete is None else delete,
        default_to_bound_org=default_to_bound_org,
        refuse_tenant_change=refuse_tenant_change,
        flavour=flavour,
    )

    def declare(item: T) -> T:
        table = table_of(item)
        _check_tenant_table(table, spec)
        column = table.c[spec.tenant_column]
        if spec.default_to_bound_org and column.server_default is None:
            # The DDL default is tenantkit's (the migration ops set it); this
            # marker only tells SQLAlchemy the database fills the column, so the
            # ORM leaves it out of INSERT and reads it back with RETURNING.
            FetchedValue()._set_parent_with_dispatch(column)
        _mark(table, spec)
        return item

    return declare if target is None else declare(target)


@overload
def shared_table(target: T, /, *, reason: str) -> T: ...


@overload
def shared_table(target: None = None, /, *, reason: str) -> Callable[[T], T]: ...


def shared_table(target: Any = None, /, *, reason: str) -> Any:
    """Opt a table that carries a tenant column out of tenancy, saying why.

    Doctor reports tables with a tenant column that are neither declared nor opted out.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("shared_table() needs a reason: why is this table not tenant-scoped?")

    def declare(item: T) -> T:
        _mark(table_of(item), SharedTable(reason.strip()))
        return item

    return declare if target is None else declare(target)


def _mark(table: Table, declaration: Declaration) -> None:
    existing = table.info.get(INFO_KEY)
    if existing is not None and existing != declaration:
        raise ValueError(f"table {table.fullname} is already declared: {existing!r}")
    table.info[INFO_KEY] = declaration


def _is_uuid(column: Column[Any]) -> bool:
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, Uuid)


def _check_tenant_table(table: Table, spec: TenancySpec) -> None:
    name = spec.tenant_column
    if name not in table.c:
        raise ValueError(f"tenant table {table.fullname} has no column {name!r}")
    column = table.c[name]
    if not _is_uuid(column):
        raise TypeError(f"{table.fullname}.{name} must be a uuid column, not {column.type}")
    if column.nullable:
        raise ValueError(f"{table.fullname}.{name} must be NOT NULL")
    primary = [c.name for c in table.primary_key.columns]
    if name not in primary:
        raise ValueError(
            f"the primary key of {table.fullname} must include {name} (e.g. PRIMARY KEY "
            f"({name}, id)): a key unique across orgs reveals other orgs' rows"
        )
    for keys, what in _unique_keys(table):
        if name not in keys:
            raise ValueError(
                f"{what} on {table.fullname} {tuple(keys)} must include {name}; "
                f"use tenant_unique(...) so uniqueness holds per org"
            )


def _unique_keys(table: Table) -> Iterable[tuple[list[str], str]]:
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            yield [c.name for c in constraint.columns], "unique constraint"
    for index in table.indexes:
        if isinstance(index, Index) and index.unique:
            yield [c.name for c in index.columns], "unique index"


def tenant_unique(
    *columns: str, name: str | None = None, tenant_column: str = "org_id"
) -> UniqueConstraint:
    """UNIQUE (org_id, *columns): the same value may exist once per org.

    A unique key across orgs is an existence oracle: inserting a value another
    org uses fails with 23505 and reveals it.
    """
    if not columns:
        raise ValueError("tenant_unique() needs at least one column")
    return UniqueConstraint(tenant_column, *columns, name=name)


_Referred = str | Table | type


def tenant_foreign_key(
    columns: Sequence[str],
    referred_table: _Referred,
    referred_columns: Sequence[str],
    *,
    tenant_column: str = "org_id",
    referred_tenant_column: str | None = None,
    name: str | None = None,
    ondelete: Literal["CASCADE", "RESTRICT", "NO ACTION"] | None = None,
    onupdate: Literal["CASCADE", "RESTRICT", "NO ACTION"] | None = None,
) -> ForeignKeyConstraint:
    """FOREIGN KEY (org_id, *columns) REFERENCES referred (org_id, *referred_columns).

    With the tenant column in the key, a row of one org can only point at
    rows of the same org, and pointing at another org's row fails exactly like
    pointing at a missing one (23503). The referred table needs a unique key
    on (org_id, ...): its primary key (org_id, id) does it. SET NULL and SET
    DEFAULT are refused: they would change the tenant column too.
    """
    if isinstance(columns, str) or isinstance(referred_columns, str):
        raise TypeError("columns and referred_columns are lists of column names")
    if not columns or len(columns) != len(referred_columns):
        raise ValueError("columns and referred_columns must be non-empty and of equal length")
    for action in (ondelete, onupdate):
        if action is not None and action.upper() not in ("CASCADE", "RESTRICT", "NO ACTION"):
            raise ValueError(
                f"{action!r} would also change the tenant column; use CASCADE, RESTRICT or "
                "NO ACTION"
            )
    target = _referred_name(referred_table)
    remote_tenant = referred_tenant_column or tenant_column
    return ForeignKeyConstraint(
        [tenant_column, *columns],
        [f"{target}.{remote_tenant}", *(f"{target}.{c}" for c in referred_columns)],
        name=name,
        ondelete=ondelete,
        onupdate=onupdate,
    )


def _referred_name(referred: _Referred) -> str:
    if isinstance(referred, str):
        return referred
    return table_of(referred).fullname


def declaration_of(target: object) -> Declaration | None:
    """The tenantkit declaration of a `Table` or mapped class, if any."""
    found = table_of(target).info.get(INFO_KEY)
    return found if isinstance(found, TenancySpec | SharedTable) else None


def declarations(*sources: MetaData | Table | type) -> dict[TableName, Declaration]:
    """Every declared table in `sources` (MetaData, tables or mapped classes)."""
    found: dict[TableName, Declaration] = {}
    for source in sources:
        tables = source.tables.values() if isinstance(source, MetaData) else [table_of(source)]
        for table in tables:
            declaration = declaration_of(table)
            if declaration is not None:
                found[TableName(table.name, table.schema)] = declaration
    return found


class UndeclaredTenantTable(ValueError):
    """Tables carrying the tenant column are neither declared nor opted out.

    Such a table would be created with no row-level security: after the usual
    `GRANT ... ON ALL TABLES` to the app role, every org reads every other
    org's rows. Refused while authoring (autogenerate, `alembic check`,
    `tenantkit policies`), not found later by doctor.
    """

    def __init__(self, tables: Sequence[str], tenant_column: str) -> None:
        self.tables = tuple(tables)
        self.tenant_column = tenant_column
        names = ", ".join(self.tables)
        super().__init__(
            f"{names}: carries the tenant column {tenant_column} but is neither declared "
            f"nor opted out; declare it with @tenant_table(...) or opt out with "
            f"shared_table(..., reason=\"...\")"
        )


def undeclared(tables: Iterable[Table], tenant_column: str = "org_id") -> list[Table]:
    """The tables among `tables` that carry a tenant column but have no declaration.

    A tenant column is `tenant_column` or any column a declared table of the
    same metadata uses as its tenant column. tenantkit's own tables are skipped.
    """
    candidates = [t for t in tables if t.schema != _OWN_SCHEMA]
    columns = {tenant_column} | {
        d.tenant_column
        for t in candidates
        if isinstance(d := t.info.get(INFO_KEY), TenancySpec)
    }
    return [
        t
        for t in candidates
        if t.info.get(INFO_KEY) is None and any(c in t.c for c in columns)
    ]


def check_declared(tables: Iterable[Table], tenant_column: str = "org_id") -> None:
    """Raise `UndeclaredTenantTable` if any of `tables` carries the tenant column undeclared."""
    found = undeclared(tables, tenant_column)
    if found:
        raise UndeclaredTenantTable(sorted(t.fullname for t in found), tenant_column)
