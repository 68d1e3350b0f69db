"""The startup check: is this engine safe to serve requests, and is the schema ready?

    tenantkit.check_engine(engine)          # or: await check_async_engine(engine)

`init_app` runs it when the app starts (FastAPI's lifespan, Flask's `init_app`),
so a deployment mistake stops the start with one line instead of failing the
first request with a 500:

- the database cannot be reached (wrong host, port, password);
- the role can bypass row-level security: the owner, a superuser, BYPASSRLS,
  ... (the connection safety gate's own query, `sql/runtime/connection_safety.sql`);
- tenantkit's schema is missing, or behind this tenantkit's migrations.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from tenantkit.errors import BindingError, StartupCheckFailed, UnsafeConnection
from tenantkit.migrate import head_revision
from tenantkit.sqlfiles import load_sql

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["check_async_engine", "check_engine"]

LOGGER: Final = logging.getLogger("tenantkit")
_NO_PARAMETERS: Final = {"no_parameters": True}
_MIGRATE: Final = "run `tenantkit migrate` as the owner"


@cache
def _gate_sql() -> str:
    # NULL: current_user and session_user, as on every connection's first use.
    sql = load_sql("runtime/connection_safety.sql")
    if sql.count("$1::text[]") != 1:
        raise RuntimeError("sql/runtime/connection_safety.sql no longer takes one $1::text[]")
    return sql.replace("$1::text[]", "NULL::text[]")


def _fail(message: str) -> StartupCheckFailed:
    LOGGER.error("tenantkit: the app cannot start: %s", message)
    return StartupCheckFailed(message)


def _verdict(role: str, reasons: Any, state: Any, version: str | None) -> None:
    if reasons:
        raise _fail(
            f"the app connects as {role!r}, which can bypass row-level security ({reasons}): "
            "connect as the app role (LOGIN NOSUPERUSER NOBYPASSRLS, not the owner)"
        )
    if not state.has_schema:
        raise _fail(f"tenantkit's schema is not in this database: {_MIGRATE}")
    head = head_revision()
    if version != head:
        at = f"at {version}" if version else "at an older revision"
        raise _fail(f"tenantkit's schema is {at}, behind head {head}: {_MIGRATE}")


def _unsafe(exc: UnsafeConnection) -> StartupCheckFailed:
    return _fail(f"the app connects as a role that can bypass row-level security: {exc.message}")


def _binding(exc: BindingError) -> StartupCheckFailed:
    # The signing keys are checked on the first connection, before the schema query.
    return _fail(" ".join(str(exc).split()))


def _connect_error(exc: DBAPIError) -> StartupCheckFailed:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return _fail(f"cannot connect to the database: {first}")


def _check(conn: Connection) -> None:
    reasons = conn.exec_driver_sql(_gate_sql(), execution_options=_NO_PARAMETERS).scalar()
    state = conn.exec_driver_sql(
        load_sql("runtime/startup_check.sql"), execution_options=_NO_PARAMETERS
    ).one()
    version = None
    if state.can_read_version:
        version = conn.exec_driver_sql("SELECT version_num FROM tenantkit.alembic_version").scalar()
    _verdict(state.role, reasons, state, version)


def check_engine(engine: Engine) -> None:
    """Raise `StartupCheckFailed` (one line, logged) unless `engine` is safe and ready."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise _connect_error(exc) from None
    with conn:
        try:
            _check(conn)
        except UnsafeConnection as exc:
            raise _unsafe(exc) from None
        except BindingError as exc:
            raise _binding(exc) from None


async def check_async_engine(engine: AsyncEngine) -> None:
    """`check_engine` for an `AsyncEngine`."""
    try:
        conn = await engine.connect()
    except DBAPIError as exc:
        raise _connect_error(exc) from None
    async with conn:
        try:
            await conn.run_sync(_check)
        except UnsafeConnection as exc:
            raise _unsafe(exc) from None
        except BindingError as exc:
            raise _binding(exc) from None
