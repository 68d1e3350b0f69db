"""psycopg connections that bind the current `TenantContext` at transaction begin.

psycopg starts a transaction implicitly, in `_start_query()`, right before the
first statement. Overriding that one generator puts the binding on the driver's
own transaction-start path, shared by the sync and async classes (psycopg's
generators are sans-IO), with no SQLAlchemy event and no extra round trip:

    [BEGIN, EXECUTE _tenantkit_bind($1, $2), Sync]  -> one round trip

BEGIN and the prepared, parameterised `set_config(..., true)` are queued in
libpq's pipeline mode and flushed together. psycopg's own `Connection.pipeline()`
would not do: it syncs right after its implicit BEGIN, costing the round trip
this saves.

The same hook enforces the rules on every statement, before anything is sent:
the safety gate on a connection's first use, no context in strict mode, a
context on an autocommit connection, a context changed inside a transaction.

Nothing survives a checkout. The first round trip after each pool checkout
also asks the server whether an earlier user left session state behind
(`sql/runtime/checkout_probe.sql`: extra columns of the bind statement, so no
extra round trip) and releases session advisory locks; only when something is
found does one more round trip clean it up and put the connection's baseline
settings back. A tenantkit.* value set at session level is never taken for a
binding anyway: the functions check the bind's transaction stamp.

A pooled connection whose server went away while idle fails that first round
trip, before any statement of the app ran; the cursor then reconnects and runs
the statement again, so the request never sees it (`StaleConnection`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import _AsyncGeneratorContextManager, _GeneratorContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

from tenantkit.context import TenantContext, _current
from tenantkit.db import _psycopg
from tenantkit.db._statements import (
    BACKEND,
    BIND,
    BIND_AFTER_CHECKOUT,
    BIND_AFTER_CHECKOUT_FULL,
    BINDING_REQUIRED,
    KEY_CHECK,
    PROBE,
    PROBE_FULL,
    PROBE_LEFTOVERS,
    PROBE_SETTINGS,
    PROBE_TEMP_SCHEMA,
    RESET,
    RESTORE,
    SAFETY,
    SAFETY_AND_BASELINE,
    Prepared,
    bind_set_local,
)
from tenantkit.db.signing import ENV_VAR, BindingSigner
from tenantkit.errors import (
    BindingError,
    ContextSwitchInTransaction,
    MissingTenantContext,
    NotInTransaction,
    UnsafeConnection,
)

if TYPE_CHECKING:
    from psycopg.abc import PQGen
    from psycopg.pq.abc import PGconn, PGresult

__all__ = ["StaleConnection", "TenantAsyncConnection", "TenantConnection"]

_IDLE = pq.TransactionStatus.IDLE
_FATAL = pq.ExecStatus.FATAL_ERROR
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_PIPELINE_OFF = pq.PipelineStatus.OFF

_Send = Callable[["PGconn"], None]
#: Signatures a connection keeps (one per context seen in the signer's window).
_SIGNATURES_KEPT = 256


def _SYNC(pgconn: PGconn) -> None:
    """In a round trip's statements: a pipeline Sync (ends an implicit transaction)."""
    pgconn.pipeline_sync()


class StaleConnection(psycopg.OperationalError):
    """The server side of the connection was gone before this transaction sent anything.

    Raised by the first round trip of a transaction (or of a checkout), when no
    statement of the app has run on it yet; tenantkit's cursors catch it,
    reconnect and run the statement again.
    """


@dataclass(frozen=True, slots=True)
class _Baseline:
    """A connection's session state right after it was set up (connect-time SETs included)."""

    settings: bytes | None  # the probe's settings fingerprint
    names: bytes  # text[] literals of the session-level settings, to restore them
    values: bytes


class _TenantBinding:
    """The binding behaviour shared by the sync and async connection classes.

    Per physical connection state:
    - `_tk_strict`: raise `MissingTenantContext` when a transaction begins unbound;
    - `_tk_set_local`: bind with `SET LOCAL` literals (Citus) instead of set_config;
    - `_tk_passthrough`: True until the first checkout (while SQLAlchemy and the
      app's connect hooks set the connection up), when no rule applies;
    - `_tk_bound`: the context bound to the open transaction (None if unbound);
    - `_tk_unsafe`: None until the gate ran, then '' (safe) or why the role
      could bypass row-level security;
    - `_tk_baseline`: the session state recorded at first use;
    - `_tk_checkout_due`: the next round trip is the first of a pool checkout;
    - `_tk_maybe_dirty`: a statement since the last probe may have created
      session objects (its command tag said so): probe for them too;
    - `_tk_needs_reset`: a session-level SET or RESET ran: reset, no probe needed;
    - `_tk_prepared`: the names of tenantkit's statements prepared on this connection.
    """

    _tk_strict: bool = False
    _tk_set_local: bool = False
    _tk_passthrough: bool = False
    _tk_bound: TenantContext | None = None
    _tk_unsafe: str | None = None
    _tk_baseline: _Baseline | None = None
    _tk_checkout_due: bool = True
    _tk_maybe_dirty: bool = False
    _tk_needs_reset: bool = False
    _tk_temp_schema: bool = False
    _tk_prepared: frozenset[bytes] = frozenset()
    _tk_connect_args: tuple[str, dict[str, Any]] = ("", {})
    _tk_signer: BindingSigner | None = None
    _tk_pid: int = 0  # the server backend signatures are bound to (0: unknown, a pooler)
    # Signatures made on this connection, per context: (expiry, signature). One
    # serves every transaction of its context for the signer's 15-s window, so a
    # pool connection serving many users signs each once per window, not once per
    # transaction whenever the user changes (see `_tk_bind_params`).
    _tk_signatures: dict[TenantContext, tuple[int, bytes]]

    # Provided by psycopg.BaseConnection.
    pgconn: PGconn
    prepare_threshold: int | None
    autocommit: bool
    info: psycopg.ConnectionInfo
    _base_start_query: ClassVar[Any]

    # --- configuration (from connect()'s keyword arguments) --------------------

    def _tk_configure(self, conninfo: str, kwargs: dict[str, Any], options: _Options) -> None:
        """Apply connect()'s tenantkit options, at construction (never from outside).

        An engine's connections (`pooled`) wait for their first checkout while the
        connect hooks set them up; a connection made directly obeys the rules (the
        gate, the binding) from its first statement.
        """
        self._tk_connect_args = (conninfo, kwargs)
        self._tk_passthrough = options.pooled
        self._tk_strict = options.strict
        self._tk_set_local = options.set_local
        self._tk_signer = options.signer
        self._tk_signatures = {}

    def _tk_bind_params(self, ctx: TenantContext) -> tuple[bytes, bytes, bytes, bytes]:
        """The bind's parameters: the ids, their signature (b'' when not signing), the key id."""
        user, org, key = ctx._params
        signer = self._tk_signer
        if signer is None:
            return (user, org, b"", key)
        expiry = signer.expiry()
        signatures = self._tk_signatures
        made = signatures.get(ctx)
        if made is not None and made[0] == expiry:
            return (user, org, made[1], key)
        if ctx.api_key_id is not None:
            signature = signer.sign_api_key(ctx.api_key_id, ctx.org_id, self._tk_pid, expiry)
        else:
            assert ctx.user_id is not None  # a context is a user or a key
            signature = signer.sign(ctx.user_id, ctx.org_id, self._tk_pid, expiry)
        if len(signatures) >= _SIGNATURES_KEPT:
            signatures.clear()  # bounded; the next window re-signs anyway
        signatures[ctx] = (expiry, signature)
        return (user, org, signature, key)

    def _tk_checked_out(self) -> None:
        """A pool handed this connection to a new user: probe at its first round trip.

        The first checkout also ends the passthrough: statements run while the
        connection was set up (the dialect's, and the app's own connect-time SETs)
        are part of its baseline, not an earlier user's leftovers.
        """
        self._tk_passthrough = False
        self._tk_checkout_due = True

    def _tk_refuse_own_begin(self, what: str) -> None:
        """psycopg's transaction() and tpc_begin() send their own BEGIN, past
        `_start_query`: such a transaction would skip the bind, the checkout probe
        and the strict rule. Refused with a typed error instead (a transaction()
        inside an open transaction is only a savepoint, and is fine)."""
        if self._tk_passthrough or self.info.transaction_status != _IDLE:
            return
        raise BindingError(
            f"{what} would begin a transaction past tenantkit's binding; let the first "
            "statement begin the transaction (it binds the current TenantContext) and "
            "commit() or rollback() it, or use transaction() inside it for a savepoint"
        )

    def _tk_screen(self, results: Sequence[PGresult], query: object) -> None:
        """Note what the app's statements may have left at session level, by command tag.

        Tags are the server's own account of each statement: a SELECT cannot
        DECLARE, LISTEN or PREPARE (only through a function of your own that
        runs dynamic SQL), while the settings a SELECT can change with
        set_config() are the cheap probe's business.
        """
        if self._tk_passthrough:
            return
        if _psycopg.pipeline_of(self):
            self._tk_maybe_dirty = True  # results arrive later, unseen: assume the worst
            return
        for result in results:
            status = result.command_status
            if status is None:
                continue
            tag = status.partition(b" ")[0]
            if tag in _SAFE_TAGS:
                continue
            if tag in (b"SET", b"RESET"):
                if not _is_set_local(query):
                    self._tk_needs_reset = True
                continue
            self._tk_maybe_dirty = True

    # --- psycopg's transaction start ------------------------------------------

    def _start_query(self) -> PQGen[None]:
        if self._tk_passthrough:
            yield from self._base_start_query()
            return
        if self._tk_unsafe is None:
            yield from self._first_use()
        if self._tk_unsafe:
            raise UnsafeConnection(
                f"refusing to use this connection: {self._tk_unsafe}; "
                "connect as the app role (NOSUPERUSER, NOBYPASSRLS, not an owner, "
                "and a member of no such role)"
            )
        ctx = _current.get()
        if self.autocommit:
            if ctx is not None:
                raise NotInTransaction(
                    "a TenantContext is bound but the connection is in autocommit mode: "
                    "transaction-local settings would not apply; use a transaction"
                )
            if self._tk_checkout_due:
                yield from self._after_checkout(None, None)
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
            if self._tk_checkout_due and not self._queued_in_pipeline():
                yield from self._after_checkout(_psycopg.tx_start_command(self), None)
            else:
                yield from self._base_start_query()
            return
        begin = _psycopg.tx_start_command(self)
        if self._tk_set_local:
            yield from self._begin_set_local(begin, ctx)
        elif self._queued_in_pipeline():
            # Behind commands already queued in the user's psycopg pipeline: queue the
            # bind too and let the pipeline sync. A due probe waits for the next transaction.
            yield from _psycopg.exec_command(self, begin)
            params = self._tk_bind_params(ctx)
            yield from _psycopg.queue_in_pipeline(
                self, lambda: self.pgconn.send_query_params(BIND.sql, list(params))
            )
        elif self._tk_checkout_due:
            yield from self._after_checkout(begin, self._tk_bind_params(ctx))
        else:
            yield from self._begin_with(begin, BIND, self._tk_bind_params(ctx))
        self._tk_bound = ctx

    # --- first use: the gate and the baseline ---------------------------------

    def _first_use(self) -> PQGen[None]:
        # Once per physical connection (and again after a reconnect), before any
        # statement of the app, bound or not: the gate, and what "clean" means here.
        baseline = self._tk_baseline
        sends: list[_Send] = [_params(SAFETY, [None])]
        if baseline is None:
            sends += [_params(SAFETY_AND_BASELINE[1]), _params(SAFETY_AND_BASELINE[2])]
        elif baseline.names != b"{}":
            sends.append(_params(RESTORE, [baseline.names, baseline.values]))
        signer = self._tk_signer
        if signer is not None:
            sends.append(_params(BACKEND))
            for key in signer.keys:
                check = [key.key_id.encode(), BindingSigner.check_mac(key).encode()]
                sends.append(_params(KEY_CHECK, check))
        else:
            # No key: a database that requires signing would show this engine no
            # tenant rows. It is refused now instead (fail closed, and loudly).
            sends.append(_params(BINDING_REQUIRED))
        results = yield from self._round_trip(sends)
        count = len(signer.keys) if signer is not None else 1  # the trailing checks
        # The gate's verdict comes first: a role that cannot run the key check
        # is refused as unsafe (if it is), not as mis-keyed.
        if signer is not None:
            # The gate's and the baseline's errors first; then a schema too old to
            # answer backend.sql is the key check's "run tenantkit migrate".
            self._raise_first_error(results[: len(results) - 2 - count])
            _refuse_old_schema(results[-2 - count])
        self._raise_first_error(results[: len(results) - 1 - count])
        reason = results[0].get_value(0, 0)
        if signer is not None and not reason:
            # backend.sql, then the key checks, then the Sync's result.
            self._tk_check_keys(signer, results[-2 - count], results[-1 - count : -1])
        elif signer is None and not reason:
            _refuse_if_signing_required(results[-2])
        if baseline is None:
            probe, base = results[1], results[2]
            self._tk_baseline = _Baseline(
                settings=probe.get_value(0, PROBE_SETTINGS),
                names=base.get_value(0, 0) or b"{}",
                values=base.get_value(0, 1) or b"{}",
            )
        self._tk_checkout_due = False
        self._tk_unsafe = reason.decode() if reason else ""

    def _tk_check_keys(
        self, signer: BindingSigner, backend: PGresult, results: Sequence[PGresult]
    ) -> None:
        # The app's secret must match the database's verifier now, at the first
        # connection: a wrong key would otherwise show only as empty results.
        for key, result in zip(signer.keys, results, strict=True):
            if result.status == _FATAL:
                sqlstate = result.error_field(_SQLSTATE)
                if sqlstate == b"42501":
                    break  # not the app role: it binds nothing, there is nothing to check
                message = result.error_message.decode(errors="replace").strip()
                raise BindingError(
                    "this engine signs its bindings, but the database cannot check its key "
                    f"({message}): run `tenantkit migrate` (revision 0006)"
                )
            status = (result.get_value(0, 0) or b"").decode()
            if status not in ("ok", "off"):
                what = {
                    "unknown": "is not in the database's binding_keys",
                    "retired": "is retired in the database",
                    "mismatch": "does not match the database's verifier for that key id",
                }.get(status, status)
                hint = (
                    f"; register it as the owner: tenantkit keys binding add {key.key_id}:<secret> "
                    "--database-url <owner URL>" if status == "unknown" else ""
                )
                raise BindingError(
                    f"binding key {key.key_id!r} {what}: check {ENV_VAR} against "
                    f"`tenantkit keys binding list`{hint}"
                )
        server_pid = int((backend.get_value(0, 0) or b"0").decode())
        server_now = float((backend.get_value(0, 1) or b"0").decode())
        skew = abs(server_now - time.time())
        if skew > signer.ttl / 2:
            raise BindingError(
                f"the database's clock is {skew:.0f} s away from this host's: signed "
                f"bindings (valid {signer.ttl} s) would expire early or late; fix the clocks"
            )
        # Behind a pooler the client's backend pid is the pooler's, and the server
        # connection changes between transactions: sign for any backend (pid 0).
        # Otherwise sign what the database binds (the pid; on Citus the global pid,
        # which the workers serving this backend report too).
        bound = int((backend.get_value(0, 2) or b"0").decode())
        self._tk_pid = bound if server_pid == self.pgconn.backend_pid else 0
        self._tk_signatures = {}  # made for another backend

    # --- the first round trip after a checkout ---------------------------------

    def _after_checkout(self, begin: bytes | None, params: Sequence[bytes] | None) -> PQGen[None]:
        """BEGIN (unless autocommit), the bind (when `params`) and the probe, then a
        cleanup only if something was left behind."""
        self._tk_checkout_due = False
        if self._tk_needs_reset:
            # A session-level SET ran: clean up without asking, begin in the same trip.
            yield from self._reset(begin, params, in_transaction=False)
            return
        full = self._tk_maybe_dirty or self._tk_temp_schema
        if params is not None:
            statement = BIND_AFTER_CHECKOUT_FULL if full else BIND_AFTER_CHECKOUT
        else:
            statement = PROBE_FULL if full else PROBE
        if begin is None:
            result = (yield from self._checked_round_trip([_params(statement.sql)]))[0]
        else:
            result = yield from self._begin_with(begin, statement, params or ())
        self._tk_maybe_dirty = False
        baseline = self._tk_baseline
        assert baseline is not None
        if result.get_value(0, PROBE_TEMP_SCHEMA) == b"t":
            self._tk_temp_schema = True  # checked by the objects probe from now on
        if (
            result.get_value(0, PROBE_SETTINGS) != baseline.settings
            or (full and result.get_value(0, PROBE_LEFTOVERS) != b"f")
            or (not full and self._tk_temp_schema)
        ):
            yield from self._reset(begin, params, in_transaction=begin is not None)

    def _reset(
        self, begin: bytes | None, params: Sequence[bytes] | None, *, in_transaction: bool
    ) -> PQGen[None]:
        """Clean up after an earlier user and begin again, in one round trip."""
        baseline = self._tk_baseline
        assert baseline is not None
        sends: list[_Send] = [_params(b"ROLLBACK")] if in_transaction else []
        sends += [_params(statement) for statement in RESET]
        if baseline.names != b"{}":
            sends.append(_params(RESTORE, [baseline.names, baseline.values]))
        # A Sync ends the implicit transaction the cleanup runs in: UNLISTEN and
        # RESET take effect when it commits, before the caller's BEGIN.
        sends.append(_SYNC)
        if begin is not None:
            sends.append(_params(begin))
            if params is not None:  # DEALLOCATE ALL dropped it: unprepared, once
                sends.append(_params(BIND.sql, params))
        self._tk_prepared = frozenset()
        _psycopg.reset_prepared_statements(self)
        self._tk_needs_reset = self._tk_maybe_dirty = False
        yield from self._checked_round_trip(sends)

    # --- bound transactions ----------------------------------------------------

    def _begin_set_local(self, begin: bytes, ctx: TenantContext) -> PQGen[None]:
        # Citus propagates SET LOCAL to the shards but not set_config(), and SET
        # takes no bind parameters: the values go as literals (canonical UUIDs,
        # quoted anyway). A due checkout probe goes first, on its own.
        if self._tk_checkout_due:
            yield from self._after_checkout(None, None)
        user, org, sig, key = (_quote_literal(value) for value in self._tk_bind_params(ctx))
        try:
            self.pgconn.send_query(begin + b"; " + bind_set_local(user, org, sig, key))
            results = yield from _psycopg.execute(self.pgconn)
        except psycopg.OperationalError as exc:
            if _psycopg.is_broken(self.pgconn):
                raise StaleConnection(str(exc)) from exc
            raise
        self._raise_first_error(results)

    def _begin_with(
        self, begin: bytes, statement: Prepared, params: Sequence[bytes]
    ) -> PQGen[PGresult]:
        """BEGIN and `statement` in one round trip, in libpq's pipeline mode; its result.

        The statement is prepared once per connection (a re-parse and re-plan per
        transaction costs more than the round trip it shares), unless
        prepare_threshold is None, which is how psycopg is told that server-side
        prepared statements are off (e.g. PgBouncer < 1.21).
        """
        named = self.prepare_threshold is not None
        prepare_now = named and statement.name not in self._tk_prepared
        # BEGIN first: a Parse takes a snapshot, after which
        # `BEGIN ISOLATION LEVEL ...` is refused (25001).
        sends: list[_Send] = [_params(begin)]
        if prepare_now:
            sends.append(lambda pgconn: pgconn.send_prepare(statement.name, statement.sql))
        # A list: psycopg before 3.3 takes no other sequence here.
        listed = list(params)
        if named:
            sends.append(lambda pgconn: pgconn.send_query_prepared(statement.name, listed))
        else:
            sends.append(_params(statement.sql, listed))
        results = yield from self._round_trip(sends)
        if prepare_now and len(results) > 1 and results[1].status == _COMMAND_OK:
            # Prepared, whatever failed after it: preparing it again would be 42P05.
            self._tk_prepared |= {statement.name}
        for result in results:
            if result.status == _FATAL:
                if result.error_field(_SQLSTATE) == b"42P05" and prepare_now:
                    # Already prepared on the server although not in our set: the
                    # set was emptied after a DEALLOCATE ALL that psycopg queued
                    # (it sends one after a ROLLBACK when it holds prepared
                    # statements) and statements prepared since then survived.
                    self._tk_prepared |= {statement.name}
                    if self.info.transaction_status != _IDLE:
                        yield from _psycopg.exec_command(self, b"ROLLBACK")
                    return (yield from self._begin_with(begin, statement, params))
                if result.error_field(_SQLSTATE) == b"26000" and self._tk_prepared:
                    # Our prepared statements are gone (DISCARD ALL, DEALLOCATE ALL):
                    # prepare again.
                    self._tk_prepared = frozenset()
                    if self.info.transaction_status != _IDLE:
                        yield from _psycopg.exec_command(self, b"ROLLBACK")
                    return (yield from self._begin_with(begin, statement, params))
                self._raise_first_error(results)
        return results[-2]  # the statement's; the Sync comes after it

    # --- reconnecting ------------------------------------------------------------

    def _tk_adopt(self, fresh: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
        """Continue on `fresh`'s server connection; `fresh` then holds the dead one."""
        _psycopg.adopt_pgconn(self, fresh)
        # A new backend: run the gate again and put the connect-time settings back.
        self._tk_prepared = frozenset()
        self._tk_unsafe = None
        self._tk_bound = None
        self._tk_needs_reset = self._tk_maybe_dirty = self._tk_temp_schema = False

    # --- helpers ------------------------------------------------------------------

    def _queued_in_pipeline(self) -> bool:
        pipeline = _psycopg.pipeline_of(self)
        return bool(pipeline) and bool(pipeline.command_queue or pipeline.result_queue)

    def _round_trip(self, sends: Sequence[_Send]) -> PQGen[list[PGresult]]:
        """`sends` in libpq's pipeline mode, flushed with one Sync; every result."""
        pgconn = self.pgconn
        own = pgconn.pipeline_status == _PIPELINE_OFF
        try:
            if own:
                pgconn.enter_pipeline_mode()
            for send in sends:
                send(pgconn)
            pgconn.pipeline_sync()
            yield from _psycopg.send(pgconn)
            results: list[PGresult] = []
            for _ in range(len(sends) + 1):  # one list per statement, then the Sync
                results.extend((yield from _psycopg.fetch_many(pgconn)))
        except psycopg.OperationalError as exc:
            if own:
                _abandon_pipeline(pgconn)
            if _psycopg.is_broken(pgconn):
                raise StaleConnection(str(exc)) from exc
            raise
        except BaseException:
            if own:
                _abandon_pipeline(pgconn)
            raise
        if own:
            pgconn.exit_pipeline_mode()
        return results

    def _checked_round_trip(self, sends: Sequence[_Send]) -> PQGen[list[PGresult]]:
        results = yield from self._round_trip(sends)
        self._raise_first_error(results)
        return results

    def _raise_first_error(self, results: Sequence[PGresult]) -> None:
        # Only tenantkit's own round trips come here, before any statement of the
        # app: a dead server is a StaleConnection (the cursor retries), else the error.
        error = _first_error(results)
        if _psycopg.is_broken(self.pgconn):
            message = error.error_message.decode(errors="replace") if error else "connection lost"
            raise StaleConnection(message.strip())
        if error is not None:
            raise pg_errors.error_from_result(error, encoding=self.info.encoding)


#: Command tags of statements that cannot leave a session object behind.
_SAFE_TAGS: frozenset[bytes] = frozenset({
    b"SELECT", b"INSERT", b"UPDATE", b"DELETE", b"MERGE", b"COPY", b"FETCH", b"MOVE",
    b"CLOSE", b"SHOW", b"EXPLAIN", b"BEGIN", b"START", b"COMMIT", b"ROLLBACK", b"SAVEPOINT",
    b"RELEASE", b"LOCK", b"NOTIFY", b"UNLISTEN", b"DEALLOCATE", b"DISCARD", b"TRUNCATE",
    b"ANALYZE", b"VACUUM",
})


def _refuse_old_schema(backend: PGresult) -> None:
    # backend.sql reads tenantkit.binding_backend() (0014): no schema (3F000) or
    # an older one (42883) cannot sign, and the fix is the migration.
    if backend.status == _FATAL and backend.error_field(_SQLSTATE) in (b"3F000", b"42883"):
        message = backend.error_message.decode(errors="replace").strip().splitlines()[0]
        raise BindingError(
            "this engine signs its bindings, but the database cannot say what a "
            f"signature binds ({message}): run `tenantkit migrate` (revision 0014)"
        )


def _is_set_local(query: object) -> bool:
    # SET LOCAL dies with its transaction; anything else may outlive it.
    text = query.decode(errors="replace") if isinstance(query, bytes) else query
    if not isinstance(text, str) or ";" in text.rstrip().removesuffix(";"):
        return False  # several statements: "SET LOCAL a = 1; SET b = 2" is no SET LOCAL
    words = text.split(None, 2)
    return len(words) >= 2 and words[0].upper() == "SET" and words[1].upper() in (
        "LOCAL", "TRANSACTION", "CONSTRAINTS")


def _params(sql: bytes, params: Sequence[bytes | None] | None = None) -> _Send:
    listed = None if params is None else list(params)
    return lambda pgconn: pgconn.send_query_params(sql, listed)


#: SQLSTATEs of a first-use check that has nothing to check: not the app role
#: (42501), no signing in this schema yet (42883, before 0006), no schema (3F000).
_NOTHING_TO_CHECK: Final = frozenset({b"42501", b"42883", b"3F000"})

#: What an engine without a binding key is told by a database that requires one.
SIGNING_REQUIRED: Final = (
    "this database requires signed binding (tenantkit.settings.signed_binding is on: "
    "new installs sign by default) and this engine has no binding key, so it would see "
    "no tenant rows. Create a key and register it as the owner:\n"
    "  tenantkit keys binding new k1              # prints k1:<secret>; keep it as a secret\n"
    "  tenantkit keys binding add k1:<secret> --enable --database-url <owner URL>\n"
    f"then run the app with {ENV_VAR}=k1:<secret> (or pass signer= to the engine). "
    "To run unsigned instead (SQL injection can then impersonate any member): "
    "tenantkit keys binding disable --database-url <owner URL>"
)


def _refuse_if_signing_required(result: PGresult) -> None:
    """An unsigned engine's first use: `BindingError` if the database requires signing."""
    if result.status == _FATAL:
        if result.error_field(_SQLSTATE) in _NOTHING_TO_CHECK:
            return
        message = result.error_message.decode(errors="replace").strip()
        raise BindingError(f"cannot tell whether this database requires signed binding: {message}")
    if (result.get_value(0, 0) or b"") != b"off":
        raise BindingError(SIGNING_REQUIRED)


def _first_error(results: Sequence[PGresult]) -> PGresult | None:
    return next((res for res in results if res.status == _FATAL), None)


def _quote_literal(value: bytes) -> bytes:
    if b"\\" in value or b"\x00" in value:
        raise ValueError("refusing to quote a value with a backslash or NUL")
    return b"'" + value.replace(b"'", b"''") + b"'"


def _abandon_pipeline(pgconn: PGconn) -> None:
    # Best effort after a failure mid-round-trip; the connection is usually
    # broken then, and SQLAlchemy will discard it.
    try:
        if pgconn.pipeline_status != _PIPELINE_OFF:
            pgconn.exit_pipeline_mode()
    except psycopg.Error:
        pass


class TenantCursor(psycopg.Cursor[Any]):
    """A cursor that notes what its statements may leave behind (see `_tk_screen`),
    and reruns a statement on a fresh connection when the old one was found dead."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        try:
            try:
                super().execute(query, params, **kwargs)
            except StaleConnection:
                _reconnect(self)
                super().execute(query, params, **kwargs)
        except BaseException:
            _connection(self)._tk_maybe_dirty = True  # a statement may have run part-way
            raise
        _screen(self, query)
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        _screen_many(self, query)
        try:
            super().executemany(query, params_seq, **kwargs)
        except StaleConnection:
            _reconnect(self)
            super().executemany(query, params_seq, **kwargs)

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
        # stream() keeps no results to screen (and sends one statement): judge its verb.
        _screen_many(self, query)
        return super().stream(query, params, **kwargs)


class TenantAsyncCursor(psycopg.AsyncCursor[Any]):
    """The asyncio twin of `TenantCursor`."""

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        try:
            try:
                await super().execute(query, params, **kwargs)
            except StaleConnection:
                await _reconnect_async(self)
                await super().execute(query, params, **kwargs)
        except BaseException:
            _connection(self)._tk_maybe_dirty = True
            raise
        _screen(self, query)
        return self

    async def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        _screen_many(self, query)
        try:
            await super().executemany(query, params_seq, **kwargs)
        except StaleConnection:
            await _reconnect_async(self)
            await super().executemany(query, params_seq, **kwargs)

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        _screen_many(self, query)
        return super().stream(query, params, **kwargs)


_connection: Callable[[Any], _TenantBinding] = _psycopg.connection_of


def _screen(cursor: Any, query: object) -> None:
    # The common case first, at the cost of one lookup: one result with a safe tag.
    results = _psycopg.results(cursor)
    if len(results) == 1:
        status = results[0].command_status
        if status is not None and status.partition(b" ")[0] in _SAFE_TAGS:
            return
    _connection(cursor)._tk_screen(results, query)


class TenantServerCursor(psycopg.ServerCursor[Any]):
    """A named cursor; WITH HOLD ones outlive their transaction, so they count as leftovers."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        if self.withhold:
            _connection(self)._tk_maybe_dirty = True
        return super().execute(query, params, **kwargs)


class TenantAsyncServerCursor(psycopg.AsyncServerCursor[Any]):
    """The asyncio twin of `TenantServerCursor`."""

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        if self.withhold:
            _connection(self)._tk_maybe_dirty = True
        return await super().execute(query, params, **kwargs)


_MANY_SAFE: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH", "VALUES")


def _screen_many(cursor: Any, query: object) -> None:
    # executemany's results are not kept; one statement, many times: judge its verb.
    text = query.decode(errors="replace") if isinstance(query, bytes) else query
    verb = text.lstrip(" \t\r\n(").split(None, 1)[0].upper() if isinstance(text, str) else ""
    if not verb.startswith(_MANY_SAFE):
        _connection(cursor)._tk_maybe_dirty = True


def _reconnect(cursor: TenantCursor) -> None:
    conn = cursor.connection
    assert isinstance(conn, TenantConnection)
    conninfo, kwargs = conn._tk_connect_args
    fresh = psycopg.Connection.connect(conninfo, **kwargs)
    try:
        conn._tk_adopt(fresh)
    finally:
        fresh.close()
    _psycopg.follow_pgconn(cursor)


async def _reconnect_async(cursor: TenantAsyncCursor) -> None:
    conn = cursor.connection
    assert isinstance(conn, TenantAsyncConnection)
    conninfo, kwargs = conn._tk_connect_args
    fresh = await psycopg.AsyncConnection.connect(conninfo, **kwargs)
    try:
        conn._tk_adopt(fresh)
    finally:
        await fresh.close()
    _psycopg.follow_pgconn(cursor)


@functools.cache
def _screening(factory: Any, base: type[Any]) -> type[Any]:
    """`base`, or the app's own cursor class (`cursor_factory=ClientCursor`, common
    behind PgBouncer) with `base`'s screening and retry in front: a cursor class
    that skipped them would let session objects survive a checkout unseen."""
    if factory is None or (isinstance(factory, type) and issubclass(factory, base)):
        return base if factory is None else factory
    if not isinstance(factory, type):
        raise BindingError(f"cursor_factory must be a psycopg cursor class, not {factory!r}")
    return type(f"Tenant{factory.__name__}", (base, factory), {})


#: The keyword with which tenantkit's engines ask `connect()` for a pooled connection.
_POOLED = "_tenantkit_pooled"


@dataclass(frozen=True, slots=True)
class _Options:
    """tenantkit's own `connect()` keyword arguments (removed before psycopg sees them)."""

    pooled: bool
    strict: bool
    set_local: bool
    signer: BindingSigner | None

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any]) -> _Options:
        binding = kwargs.pop("tenantkit_binding", "set_config")
        if binding not in ("set_config", "set_local"):
            raise ValueError(f"binding must be 'set_config' or 'set_local', not {binding!r}")
        signer = kwargs.pop("tenantkit_signer", "env")
        return cls(
            pooled=bool(kwargs.pop(_POOLED, False)),
            strict=bool(kwargs.pop("tenantkit_strict", False)),
            set_local=binding == "set_local",
            # "env" (default): signs as an engine's would (TENANTKIT_BINDING_SECRET).
            signer=BindingSigner.from_env() if signer == "env" else signer,
        )


class TenantConnection(_TenantBinding, psycopg.Connection[Any]):
    """A psycopg `Connection` that binds the current `TenantContext` at BEGIN."""

    _base_start_query = _psycopg.base_start_query(psycopg.Connection)

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        """psycopg's `connect()`, plus tenantkit's options (`tenantkit_strict`,
        `tenantkit_binding`, `tenantkit_signer`; see `tenantkit.db._engine.install`)."""
        options = _Options.pop_from(kwargs)
        kwargs["cursor_factory"] = _screening(kwargs.get("cursor_factory"), TenantCursor)
        conn = super().connect(conninfo, **kwargs)
        conn.server_cursor_factory = TenantServerCursor
        conn._tk_configure(conninfo, kwargs, options)
        return conn

    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> _GeneratorContextManager[psycopg.Transaction]:
        self._tk_refuse_own_begin("transaction()")
        return super().transaction(savepoint_name, force_rollback)

    def tpc_begin(self, xid: psycopg.Xid | str) -> None:
        self._tk_refuse_own_begin("tpc_begin()")
        super().tpc_begin(xid)


class TenantAsyncConnection(_TenantBinding, psycopg.AsyncConnection[Any]):
    """A psycopg `AsyncConnection` that binds the current `TenantContext` at BEGIN."""

    _base_start_query = _psycopg.base_start_query(psycopg.AsyncConnection)

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        """psycopg's `connect()`, plus tenantkit's options (see `TenantConnection.connect`)."""
        options = _Options.pop_from(kwargs)
        kwargs["cursor_factory"] = _screening(kwargs.get("cursor_factory"), TenantAsyncCursor)
        conn = await super().connect(conninfo, **kwargs)
        conn.server_cursor_factory = TenantAsyncServerCursor
        conn._tk_configure(conninfo, kwargs, options)
        return conn

    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> _AsyncGeneratorContextManager[psycopg.AsyncTransaction]:
        self._tk_refuse_own_begin("transaction()")
        return super().transaction(savepoint_name, force_rollback)

    async def tpc_begin(self, xid: psycopg.Xid | str) -> None:
        self._tk_refuse_own_begin("tpc_begin()")
        await super().tpc_begin(xid)
