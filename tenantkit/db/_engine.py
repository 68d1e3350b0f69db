"""Installing tenant binding on SQLAlchemy engines (sync and async, psycopg 3).

`install(engine)` makes every connection the engine opens a
`TenantConnection`, so every transaction begun while a `TenantContext` is bound
carries it; sessions, Core connections and ORM flushes alike. Nothing runs per
statement in SQLAlchemy: the work happens in the driver's transaction start.
"""

from __future__ import annotations

import weakref
from typing import Any, Literal

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _sa_create_async_engine

from tenantkit.context import tenant_context
from tenantkit.db import tenant_filter
from tenantkit.db._connection import _POOLED, TenantAsyncConnection, TenantConnection
from tenantkit.db.signing import BindingSigner
from tenantkit.errors import BindingError

__all__ = ["Binding", "create_async_engine", "create_engine", "install"]

#: "set_config": BEGIN + a parameterised set_config(..., true), one round trip (default).
#: "set_local": BEGIN; SET LOCAL ... with quoted literals, for Citus, which
#: propagates SET LOCAL to shards but not set_config(). The ids then travel as
#: SQL text: every session of the app role reads them in pg_stat_activity.query
#: while the statement runs, and log_statement writes them to the server log.
#: Choose it only where Citus needs it.
Binding = Literal["set_config", "set_local"]

_installed: weakref.WeakSet[Engine] = weakref.WeakSet()


def create_engine(
    url: str | sqlalchemy.URL,
    *,
    strict: bool = False,
    binding: Binding = "set_config",
    signer: BindingSigner | Literal["env"] | None = "env",
    **kwargs: Any,
) -> Engine:
    """`sqlalchemy.create_engine` with tenant binding installed (see `install`)."""
    engine = sqlalchemy.create_engine(url, **kwargs)
    install(engine, strict=strict, binding=binding, signer=signer)
    return engine


def create_async_engine(
    url: str | sqlalchemy.URL,
    *,
    strict: bool = False,
    binding: Binding = "set_config",
    signer: BindingSigner | Literal["env"] | None = "env",
    **kwargs: Any,
) -> AsyncEngine:
    """`sqlalchemy.ext.asyncio.create_async_engine` with tenant binding installed."""
    engine = _sa_create_async_engine(url, **kwargs)
    install(engine, strict=strict, binding=binding, signer=signer)
    return engine


def install(
    engine: Engine | AsyncEngine,
    *,
    strict: bool = False,
    binding: Binding = "set_config",
    signer: BindingSigner | Literal["env"] | None = "env",
) -> None:
    """Bind the current `TenantContext` at every transaction begin on `engine`.

    strict: a transaction begun with no context raises `MissingTenantContext`
    (otherwise it runs unbound, and RLS shows it no tenant rows).
    binding: "set_config" (default) or "set_local" for Citus only: it sends the
    ids as literals, which other app-role sessions read in pg_stat_activity;
    see `Binding`.
    signer: signs every binding (`tenantkit.db.signing`); "env" (default) reads
    the keys from TENANTKIT_BINDING_SECRET, None never signs. The first
    connection checks the keys against the database's verifier (`BindingError`).

    The engine must use the psycopg 3 driver (`postgresql+psycopg://`). Call
    this before the engine connects; connections it already pooled are dropped.
    Installing twice is a no-op.

    ORM sessions on the engine also add the bound org as an explicit filter on
    declared tenant tables, for the planner (`tenantkit.db.tenant_filter`).
    """
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if binding not in ("set_config", "set_local"):
        raise ValueError(f"binding must be 'set_config' or 'set_local', not {binding!r}")
    if sync_engine in _installed:
        return
    signing = BindingSigner.from_env() if signer == "env" else signer
    dialect = sync_engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        raise BindingError(
            f"tenantkit binds through psycopg 3; this engine uses {dialect.name}+{dialect.driver}. "
            "Use a postgresql+psycopg:// URL"
        )

    # The engine's options reach each connection as connect() keyword arguments.
    options = {
        _POOLED: True,
        "tenantkit_strict": strict,
        "tenantkit_binding": binding,
        "tenantkit_signer": signing,
    }

    if dialect.is_async:

        async def connect_async(*cargs: Any, **cparams: Any) -> TenantAsyncConnection:
            return await TenantAsyncConnection.connect(*cargs, **{**cparams, **options})

        @event.listens_for(sync_engine, "do_connect")
        def _do_connect_async(
            dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
        ) -> None:
            cparams["async_creator_fn"] = connect_async

    else:

        @event.listens_for(sync_engine, "do_connect")
        def _do_connect(
            dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
        ) -> TenantConnection:
            return TenantConnection.connect(*cargs, **{**cparams, **options})

    # Every connection must come from tenantkit's class (configured by connect());
    # its rules start at the first checkout, after every connect hook ran.
    @event.listens_for(sync_engine, "connect")
    def _check_class(dbapi_connection: Any, connection_record: Any) -> None:
        conn = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if not isinstance(conn, TenantConnection | TenantAsyncConnection):
            raise BindingError(
                "this engine's connections do not come from tenantkit's connection class "
                "(a custom creator= or pool bypasses do_connect); tenant binding cannot work"
            )

    # Each checkout is a new user of the connection: its first round trip checks
    # that the previous user left nothing behind (see tenantkit.db._connection).
    # On every checkout's path: the sync pool hands out the psycopg connection
    # itself, the async one its adapter (no getattr fallback: a miss raises).
    if dialect.is_async:

        @event.listens_for(sync_engine, "checkout")
        def _checked_out_async(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
            dbapi_connection.driver_connection._tk_checked_out()

    else:

        @event.listens_for(sync_engine, "checkout")
        def _checked_out(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
            dbapi_connection._tk_checked_out()

    # pool_pre_ping's ping is the pool's statement, not the request's: SQLAlchemy
    # sends it in autocommit, before the checkout, where the request's context
    # would be refused (NotInTransaction) and fail every checkout. It runs unbound.
    ping = dialect.do_ping

    def _unbound_ping(dbapi_connection: Any) -> bool:
        with tenant_context(None):
            return bool(ping(dbapi_connection))

    dialect.do_ping = _unbound_ping  # type: ignore[method-assign]

    sync_engine.dispose()
    _installed.add(sync_engine)
    # ORM statements carry the bound org as an explicit WHERE (opt out per session).
    tenant_filter.enable_for(sync_engine)
