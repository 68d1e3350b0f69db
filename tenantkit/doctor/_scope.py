"""Which tables the doctor treats as tenant tables, and which are undeclared.

Without the application's declarations, the database is the only witness: a
table carrying the tenant column with row-level security (or any policy) set
up is a tenant table; one with neither is undeclared. With declarations
(`--models`), declared tables are tenant tables, `shared_table` opt-outs are
skipped, and any other table carrying the tenant column is undeclared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from tenantkit.rls import TableName, TenancySpec
from tenantkit.sqlfiles import load_sql
from tenantkit.tables.declare import Declaration, SharedTable

__all__ = ["AuditTable", "Scope", "resolve_scope"]


@dataclass(frozen=True)
class AuditTable:
    oid: int
    name: TableName
    tenant_column: str


@dataclass(frozen=True)
class Scope:
    tenant_tables: list[AuditTable] = field(default_factory=list)
    undeclared: list[AuditTable] = field(default_factory=list)
    declared: Mapping[TableName, TenancySpec] = field(default_factory=dict)
    #: Declared tenant tables the database does not have.
    missing: list[TableName] = field(default_factory=list)

    @property
    def oids(self) -> list[int]:
        return [t.oid for t in self.tenant_tables]

    @property
    def columns(self) -> list[str]:
        return [t.tenant_column for t in self.tenant_tables]


def resolve_scope(
    conn: Connection,
    *,
    tenant_column: str,
    declarations: Mapping[TableName, Declaration] | None,
) -> Scope:
    """Sort the database's tables into tenant tables and undeclared ones."""
    default_schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    declared: dict[TableName, Declaration] = {
        TableName(name.name, name.schema or default_schema): d
        for name, d in (declarations or {}).items()
    }
    columns = {tenant_column} | {
        d.tenant_column for d in declared.values() if isinstance(d, TenancySpec)
    }
    rows = conn.execute(
        text(load_sql("doctor/scope.sql")), {"tenant_columns": sorted(columns)}
    ).mappings()
    tenant: list[AuditTable] = []
    undeclared: list[AuditTable] = []
    present_tables: set[TableName] = set()
    for row in rows:
        name = TableName(row["name"], row["schema"])
        present_tables.add(name)
        declaration = declared.get(name)
        if isinstance(declaration, SharedTable):
            continue
        present: list[str] = list(row["tenant_columns"])
        if isinstance(declaration, TenancySpec):
            tenant.append(AuditTable(int(row["oid"]), name, declaration.tenant_column))
            continue
        if not present:
            continue
        column = tenant_column if tenant_column in present else present[0]
        table = AuditTable(int(row["oid"]), name, column)
        set_up = bool(row["row_security"] or row["has_policies"])
        if set_up:
            tenant.append(table)
        if declarations is not None or not set_up:
            undeclared.append(table)
    specs = {n: d for n, d in declared.items() if isinstance(d, TenancySpec)}
    missing = sorted((n for n in specs if n not in present_tables), key=str)
    return Scope(tenant_tables=tenant, undeclared=undeclared, declared=specs, missing=missing)
