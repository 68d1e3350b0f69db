"""Raw SQL as the app role, the way an attacker with a bound session would run it.

`app_sql` is a real app-role connection bound through tenantkit's engine.
`app_sql_without` is the same attack with one protection switched off inside
the transaction (a superuser runs the given DDL, then acts as the app role):
the attack must then work, which proves the protection is what stops it.
Nothing either of them does outlives its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import TenantContext, tenant_context
from tenantkit.db.signing import BindingSigner
from tenantkit.sqlfiles import load_sql
from tenantkit.testing import TestDatabase

__all__ = ["Outcome", "app_sql", "app_sql_without", "attempt", "bind_as", "definition"]


@dataclass(frozen=True)
class Outcome:
    """What one statement did: its rows and rowcount, or the error it raised."""

    sqlstate: str | None
    message: str | None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0

    @property
    def ok(self) -> bool:
        return self.sqlstate is None

    @property
    def refusal(self) -> tuple[str | None, str | None]:
        """(SQLSTATE, message): two refusals that compare equal look the same to a caller."""
        return self.sqlstate, self.message


def attempt(conn: sa.Connection, sql: str, params: Mapping[str, Any] | None = None) -> Outcome:
    """Run `sql` in a savepoint (rolled back if it fails), keeping the transaction usable."""
    savepoint = conn.begin_nested()
    try:
        result = conn.execute(sa.text(sql), dict(params or {}))
        rows = [tuple(r) for r in result] if result.returns_rows else []
        outcome = Outcome(None, None, rows, result.rowcount)
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        orig: Any = exc.orig
        return Outcome(orig.sqlstate, orig.diag.message_primary)
    savepoint.commit()
    return outcome


@contextmanager
def app_sql(app_engine: Engine, user_id: str, org_id: str) -> Iterator[sa.Connection]:
    """A transaction of the app role bound to (user, org); always rolled back."""
    with tenant_context(TenantContext(user_id, org_id)), app_engine.connect() as conn:
        tx = conn.begin()
        try:
            yield conn
        finally:
            tx.rollback()


def bind_as(conn: sa.Connection, user_id: str, org_id: str) -> None:
    """Bind the current transaction the way tenantkit's engine does (sql/runtime/bind.sql)."""
    lines = (line.split("--", 1)[0] for line in load_sql("runtime/bind.sql").splitlines())
    statement = " ".join(lines).replace("$1", "%(user_id)s").replace("$2", "%(org_id)s")
    statement = statement.replace("$3", "%(signature)s").replace("$4", "''")
    # Signed like the engine's (the run's key, this backend), when the run signs.
    signer = BindingSigner.from_env()
    signature = ""
    if signer is not None:
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        signature = signer.sign(user_id, org_id, pid, signer.expiry()).decode()
    conn.exec_driver_sql(statement, {"user_id": user_id, "org_id": org_id, "signature": signature})


@contextmanager
def app_sql_without(
    db: TestDatabase, user_id: str, org_id: str, *protection_off: str
) -> Iterator[sa.Connection]:
    """Like `app_sql`, after running `protection_off` (DDL, @app_role@ allowed) as a superuser.

    The whole transaction is rolled back: the protection is off for it alone.
    """
    engine = sa.create_engine(db.url("admin"), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            try:
                for ddl in protection_off:
                    conn.exec_driver_sql(ddl.replace("@app_role@", f'"{db.roles.app}"'))
                conn.exec_driver_sql(f'SET LOCAL ROLE "{db.roles.app}"')
                bind_as(conn, user_id, org_id)
                yield conn
            finally:
                tx.rollback()
    finally:
        engine.dispose()


def definition(sql_file: str, start: str) -> str:
    """One statement of `sql/<sql_file>`: from the line starting with `start` to its end.

    Used to put back what an earlier migration defined (the protection removed).
    """
    text = load_sql(sql_file)
    begin = text.index(start)
    if start.startswith("CREATE FUNCTION") or start.startswith("CREATE OR REPLACE FUNCTION"):
        end = text.index("\n$$;", begin) + len("\n$$;")
        body = text[begin:end]
        return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    end = text.index(";", begin) + 1
    return text[begin:end]
