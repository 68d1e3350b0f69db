"""Helpers shared by the doctor's tests: hardened baselines and broken setups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from tenantkit.db.signing import BindingSigner
from tenantkit.doctor import Finding, run_checks
from tenantkit.sqlfiles import load_sql
from tenantkit.testing import TestDatabase


@contextmanager
def without_public_temp(db: TestDatabase) -> Iterator[None]:
    """PUBLIC holds no TEMPORARY on `db` while the block runs; the grant is restored after.

    The doctor reports TEMPORARY through PUBLIC (check 14); tests of other
    checks need a database without it, whatever the provisioning did.
    """
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT has_database_privilege('public', current_database(), 'TEMPORARY')"
        ).fetchone()
        had = bool(row and row[0])
        name = sql.Identifier(db.name)
        conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(name))
        try:
            yield
        finally:
            if had:
                conn.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO PUBLIC").format(name))


@contextmanager
def as_superuser(engine: sa.Engine, db: TestDatabase, *statements: str) -> Iterator[sa.Connection]:
    """A superuser connection where `statements` ran ({app}, {owner}, {db}), rolled back."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            for statement in statements:
                run(conn, statement.format(app=db.roles.app, owner=db.owner, db=db.name))
            yield conn
        finally:
            transaction.rollback()


def run(conn: sa.Connection, statement: str) -> None:
    """Run SQL verbatim (a doctor fix included): no bind-parameter or `%` parsing."""
    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def of_check(conn: sa.Connection, db: TestDatabase, check: str) -> list[Finding]:
    """The findings of one check on `conn`'s database, for the app role of `db`."""
    return [f for f in run_checks(conn, app_role=db.roles.app) if f.check == check]


def apply_fix(conn: sa.Connection, finding: Finding) -> None:
    """Run a finding's fix as written: the doctor's fixes are SQL (trailing `--` notes)."""
    run(conn, finding.fix)


def bind(conn: psycopg.Connection[Any], org_id: str, user_id: str) -> None:
    """Bind the open (or next) transaction of a plain psycopg connection as tenantkit does.

    Runs tenantkit's own bind statement (sql/runtime/bind.sql), so raw
    connections used to measure PostgreSQL behaviour are bound exactly like
    the engine's, without its pool or gate.
    """
    lines = (line for line in load_sql("runtime/bind.sql").splitlines())
    statement = " ".join(line for line in lines if not line.lstrip().startswith("--"))
    statement = statement.replace("%", "%%")
    for n in ("$1", "$2", "$3", "$4"):
        statement = statement.replace(n, "%s")
    # Signed like the engine's (the run's key, this backend), when the run signs.
    signer = BindingSigner.from_env()
    signature = (
        signer.sign(user_id, org_id, conn.info.backend_pid, signer.expiry()).decode()
        if signer is not None
        else ""
    )
    conn.execute(statement, (user_id, org_id, signature, ""))
