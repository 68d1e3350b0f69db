"""psycopg connections that bind the current `TenantContext` at transaction begin.

psycopg starts a transaction implicitly, in `_start_query()`, right before the
first statement. Overriding that one generator puts the binding on the driver's
own transaction-start path, shared by the sync and async classes (psycopg's
generators are sans-IO), with no SQLAlchemy event and no extra round trip:

    [BEGIN, SELECT set_config($1..), set_config($2..), Sync]  -> one round trip

BEGIN and the parameterised `set_config(..., true)` are queued in libpq's
pipeline mode and flushed together. psycopg's own `Connection.pipeline()` would
not do: it syncs right after its implicit BEGIN (see shared research notes),
costing the round trip this saves.

The same hook enforces the binding rules on every statement: no context in
strict mode, a context on an autocommit connection, or a context that changed
while the transaction is open all raise before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import generators, pq

from tenantkit.context import TenantContext, _current
from tenantkit.errors import (
    ContextSwitchInTransaction,
    MissingTenantContext,
    NotInTransaction,
    UnsafeConnection,
)
from tenantkit.sqlfiles import load_sql

if TYPE_CHECKING:
    from psycopg.abc import PQGen
    from psycopg.pq.abc import PGresult

__all__ = ["TenantAsyncConnection", "TenantConnection"]

_IDLE = pq.TransactionStatus.IDLE
_FATAL = pq.ExecStatus.FATAL_ERROR
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_BIND_NAME = b"_tenantkit_bind"


def _statement(name: str) -> bytes:
    # The .sql files carry comments for readers; the wire gets the bare statement.
    lines = (line.strip() for line in load_sql(name).splitlines())
    return " ".join(line for line in lines if line and not line.startswith("--")).encode()


_BIND_SQL = _statement("runtime/bind.sql")
_SAFETY_SQL = _statement("runtime/connection_safety.sql")


class _TenantBinding:
    """The binding behaviour shared by the sync and async connection classes.

    Per physical connection state:
    - `_tk_strict`: raise `MissingTenantContext` when a transaction begins unbound;
    - `_tk_set_local`: bind with `SET LOCAL` literals (Citus) instead of set_config;
    - `_tk_passthrough`: True while SQLAlchemy initialises the connection, when
      no rule applies and nothing is bound;
    - `_tk_bound`: the context bound to the open transaction (None if unbound);
    - `_tk_unsafe`: None until checked, then '' (safe) or why the role could
      bypass row-level security;
    - `_tk_prepared`: the bind statement is prepared on this connection.
    """

    _tk_strict: bool = False
    _tk_set_local: bool = False
    _tk_passthrough: bool = False
    _tk_bound: TenantContext | None = None
    _tk_unsafe: str | None = None
    _tk_prepared: bool = False

    # Provided by psycopg.BaseConnection.
    pgconn: pq.abc.PGconn
    prepare_threshold: int | None
    _autocommit: bool
    _pipeline: Any
    _exec_command: Any
    _get_tx_start_command: Any
    _base_start_query: ClassVar[Any]

    def _start_query(self) -> PQGen[None]:
        ctx = _current.get()
        if self._tk_passthrough:
            yield from self._base_start_query()
            return
        if self._autocommit:
            if ctx is not None:
                raise NotInTransaction(
                    "a TenantContext is bound but the connection is in autocommit mode: "
                    "transaction-local settings would not apply; use a transaction"
                )
            return
        if self.pgconn.transaction_status != _IDLE:
            # Inside an open transaction: the binding made at BEGIN must still be the context.
            bound = self._tk_bound
            if ctx is not bound and ctx != bound:
                raise ContextSwitchInTransaction(
                    "the TenantContext changed while a transaction was open; "
                    "commit or roll back before switching tenants"
                )
            return
        if ctx is None:
            if self._tk_strict:
                raise MissingTenantContext(
                    "no TenantContext is bound and this engine is strict; "
                    "wrap the work in tenant_context(...)"
                )
            self._tk_bound = None
            yield from self._base_start_query()
            return
        if self._tk_unsafe is None:
            yield from self._check_safety()
        if self._tk_unsafe:
            raise UnsafeConnection(
                f"refusing to bind a tenant on this connection: {self._tk_unsafe}; "
                "connect as the app role (NOSUPERUSER, NOBYPASSRLS, not an owner)"
            )
        yield from self._begin_bound(ctx)
        self._tk_bound = ctx

    def _check_safety(self) -> PQGen[None]:
        # Runs once per physical connection, as its own implicit transaction.
        result = yield from self._exec_command(_SAFETY_SQL)
        reason = result.get_value(0, 0) if result is not None else None
        self._tk_unsafe = reason.decode() if reason else ""

    def _begin_bound(self, ctx: TenantContext) -> PQGen[None]:
        pgconn = self.pgconn
        begin = self._get_tx_start_command()
        if self._tk_set_local:
            yield from self._begin_set_local(begin, ctx)
            return
        if self._pipeline:
            # Inside the user's psycopg pipeline: queue both, let the pipeline sync.
            yield from self._exec_command(begin)
            params = ctx._params
            self._pipeline.command_queue.append(
                lambda: self.pgconn.send_query_params(_BIND_SQL, params)
            )
            self._pipeline.result_queue.append(None)  # no cursor waits for this result
            yield from self._pipeline._sync_gen()
            return
        results = yield from self._bind_round_trip(begin, ctx)
        error = _first_error(results)
        if error is not None and error.error_field(_SQLSTATE) == b"26000" and self._tk_prepared:
            # Our prepared statement is gone (DISCARD ALL, DEALLOCATE ALL): prepare again.
            self._tk_prepared = False
            if pgconn.transaction_status != _IDLE:
                yield from self._exec_command(b"ROLLBACK")
            results = yield from self._bind_round_trip(begin, ctx)
            error = _first_error(results)
        if error is not None:
            raise pg_errors.error_from_result(error, encoding=pgconn._encoding)

    def _bind_round_trip(self, begin: bytes, ctx: TenantContext) -> PQGen[list[PGresult]]:
        # BEGIN and the bind statement in libpq's pipeline mode, flushed together.
        # The bind statement is prepared once per connection (a re-parse and
        # re-plan per transaction costs more than the round trip it shares),
        # unless prepare_threshold is None, which is how psycopg is told that
        # server-side prepared statements are off (e.g. PgBouncer < 1.21).
        pgconn = self.pgconn
        named = self.prepare_threshold is not None
        prepare_now = named and not self._tk_prepared
        pgconn.enter_pipeline_mode()
        try:
            if prepare_now:
                pgconn.send_prepare(_BIND_NAME, _BIND_SQL)
            pgconn.send_query_params(begin, None)
            if named:
                pgconn.send_query_prepared(_BIND_NAME, ctx._params)
            else:
                pgconn.send_query_params(_BIND_SQL, ctx._params)
            pgconn.pipeline_sync()
            yield from generators.send(pgconn)
            results: list[PGresult] = []
            for _ in range(4 if prepare_now else 3):  # one list per query, then the sync
                results.extend((yield from generators.fetch_many(pgconn)))
        except BaseException:
            _abandon_pipeline(pgconn)
            raise
        pgconn.exit_pipeline_mode()
        if prepare_now and results[0].status == _COMMAND_OK:
            self._tk_prepared = True
        return results

    def _begin_set_local(self, begin: bytes, ctx: TenantContext) -> PQGen[None]:
        # Citus propagates SET LOCAL to the shards but not set_config(), and SET
        # takes no bind parameters: the values go as literals. They are canonical
        # UUIDs (hex digits and dashes only, checked by TenantContext), quoted anyway.
        user, org = (_quote_literal(value) for value in ctx._params)
        self.pgconn.send_query(
            begin
            + b"; SET LOCAL tenantkit.user_id = "
            + user
            + b"; SET LOCAL tenantkit.org_id = "
            + org
        )
        error = _first_error((yield from generators.execute(self.pgconn)))
        if error is not None:
            raise pg_errors.error_from_result(error, encoding=self.pgconn._encoding)


def _first_error(results: list[PGresult]) -> PGresult | None:
    return next((res for res in results if res.status == _FATAL), None)


def _quote_literal(value: bytes) -> bytes:
    if b"\\" in value or b"\x00" in value:
        raise ValueError("refusing to quote a value with a backslash or NUL")
    return b"'" + value.replace(b"'", b"''") + b"'"


def _abandon_pipeline(pgconn: pq.abc.PGconn) -> None:
    # Best effort after a failure mid-round-trip; the connection is usually
    # broken then, and SQLAlchemy will discard it.
    try:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            pgconn.exit_pipeline_mode()
    except psycopg.Error:
        pass


class TenantConnection(_TenantBinding, psycopg.Connection[Any]):
    """A psycopg `Connection` that binds the current `TenantContext` at BEGIN."""

    _base_start_query = psycopg.Connection._start_query


class TenantAsyncConnection(_TenantBinding, psycopg.AsyncConnection[Any]):
    """A psycopg `AsyncConnection` that binds the current `TenantContext` at BEGIN."""

    _base_start_query = psycopg.AsyncConnection._start_query
