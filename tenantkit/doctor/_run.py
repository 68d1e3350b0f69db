"""Running the doctor's checks on one connection, changing nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Engine

from tenantkit.database_roles import DatabaseRoles
from tenantkit.doctor._audit import Audit
from tenantkit.doctor._findings import CHECKS, Finding
from tenantkit.doctor._scope import resolve_scope
from tenantkit.rls import TableName
from tenantkit.tables.declare import Declaration

__all__ = ["run_checks"]


def run_checks(
    bind: Engine | Connection,
    *,
    app_role: str = DatabaseRoles.app,
    tenant_column: str = "org_id",
    declarations: Mapping[TableName, Declaration] | None = None,
    skip: Iterable[str] = (),
) -> list[Finding]:
    """Every finding of the checks on the database behind `bind`, errors first.

    app_role: the role that serves requests (policies must bind it, it must
    not bypass them). tenant_column: what marks a tenant table when it is not
    declared. declarations: `tenantkit.tables.declarations(metadata)`, so
    declared tables and `shared_table` opt-outs are known. skip: check ids.

    Runs in a transaction that is always rolled back (a Connection already in
    a transaction gets a savepoint), so the database is left as it was.
    """
    skipped = set(skip)
    unknown = skipped - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}; known: {sorted(CHECKS)}")
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _run(conn, app_role, tenant_column, declarations, skipped)
    return _run(bind, app_role, tenant_column, declarations, skipped)


def _run(
    conn: Connection,
    app_role: str,
    tenant_column: str,
    declarations: Mapping[TableName, Declaration] | None,
    skipped: set[str],
) -> list[Finding]:
    transaction = conn.begin_nested() if conn.in_transaction() else conn.begin()
    try:
        scope = resolve_scope(conn, tenant_column=tenant_column, declarations=declarations)
        audit = Audit(conn=conn, app_role=app_role, scope=scope)
        findings: list[Finding] = []
        for check in CHECKS.values():
            if check.id not in skipped:
                findings += check.run(audit)
    finally:
        transaction.rollback()
    return sorted(findings, key=lambda f: (f.severity != "error", f.number, f.object))
