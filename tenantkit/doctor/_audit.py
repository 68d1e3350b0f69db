"""One doctor run's state: its connection, the app role, the tables in scope."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from tenantkit.doctor._scope import AuditTable, Scope
from tenantkit.sqlfiles import load_sql

__all__ = ["Audit"]

_GATE_PARAMETER = re.compile(r"\$1(?:\\:\\:text\[\])?")


@cache
def _gate_sql() -> str:
    # The connection safety gate's own file, so the doctor and the gate can
    # never disagree about which roles are dangerous. Its `$1` (the role names)
    # becomes a bind parameter; every other colon is escaped for text().
    lines = (line for line in load_sql("runtime/connection_safety.sql").splitlines())
    sql = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
    sql, count = _GATE_PARAMETER.subn("CAST(:roles AS text[])", sql.replace(":", "\\:"))
    if count != 1:
        raise RuntimeError(
            "sql/runtime/connection_safety.sql no longer takes exactly one $1 (the role "
            "names); the doctor's app-role check must follow it"
        )
    return sql


@dataclass
class Audit:
    """One doctor run: its connection, the app role and the tables in scope."""

    conn: Connection
    app_role: str
    scope: Scope

    def rows(self, name: str, **params: Any) -> list[RowMapping]:
        """The rows of `sql/doctor/<name>.sql`, given only the parameters it names."""
        sql = load_sql(f"doctor/{name}.sql")
        defaults = {
            "tables": self.scope.oids,
            "columns": self.scope.columns,
            "app_role": self.app_role,
        }
        bound = {k: v for k, v in {**defaults, **params}.items() if f":{k}" in sql}
        return list(self.conn.execute(text(sql), bound).mappings())

    def gate(self, roles: Sequence[str]) -> str | None:
        """The safety gate's answer for `roles`: None when none can bypass RLS, else why."""
        reasons = self.conn.execute(text(_gate_sql()), {"roles": list(roles)}).scalar()
        return str(reasons) if reasons else None

    def table(self, oid: int) -> AuditTable:
        for table in self.scope.tenant_tables:
            if table.oid == oid:
                return table
        raise KeyError(oid)
