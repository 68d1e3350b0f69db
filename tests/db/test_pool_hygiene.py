"""Nothing one user leaves on a pooled connection reaches the next checkout.

Every test runs a checkout bound to org A that leaves some session state
behind (app SQL, careless or hostile, as the app role), then a second checkout
of the same physical connection (pool of one), bound to B or unbound, that
looks for it. Each runs twice: with tenantkit's protection, and with it
switched off (`exposed`), where the same attack must succeed. So every test
would fail if its protection broke.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

import tenantkit
from tenantkit import TenantContext, tenant_context
from tenantkit.db import _connection as binding
from tenantkit.db._statements import Prepared
from tenantkit.testing import SeededOrg, TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG
from tests.db.test_binding import _round_trips

PID = sa.text("SELECT pg_backend_pid()")
NOTE_ORGS = sa.text("SELECT DISTINCT org_id::text FROM public.notes")


@pytest.fixture
def engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _no_reset(self: Any, begin: Any, params: Any, *, in_transaction: bool) -> Iterator[Any]:
    # The cleanup switched off: begin as asked, leave everything else as it is.
    self._tk_needs_reset = self._tk_maybe_dirty = False
    if not in_transaction and begin is not None:
        if params is None:
            yield from self._base_start_query()
        else:
            yield from self._begin_with(begin, binding.BIND, params)


@pytest.fixture(params=["protected", "exposed"])
def protection(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """True: tenantkit as shipped. False: the checkout cleanup does nothing."""
    if request.param == "exposed":
        monkeypatch.setattr(binding._TenantBinding, "_reset", _no_reset)
        # ... and the probe no longer releases session advisory locks.
        for name in ("PROBE", "PROBE_FULL", "BIND_AFTER_CHECKOUT", "BIND_AFTER_CHECKOUT_FULL"):
            statement = getattr(binding, name)
            exposed = statement.sql.replace(b"pg_catalog.pg_advisory_unlock_all()", b"NULL")
            assert exposed != statement.sql
            monkeypatch.setattr(binding, name, Prepared(statement.name + b"_x", exposed))
    return bool(request.param == "protected")


@contextmanager
def checkout(engine: sa.Engine, ctx: TenantContext | None) -> Iterator[sa.Connection]:
    """One checkout, committed at the end."""
    with tenant_context(ctx), engine.connect() as conn:
        yield conn
        conn.commit()


def ctx_of(org: SeededOrg) -> TenantContext:
    return org.context(org.member_id)


def leave_behind(engine: sa.Engine, org: SeededOrg, *statements: str) -> int:
    """A checkout of `org` that runs `statements` and commits; its backend pid."""
    with checkout(engine, ctx_of(org)) as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        return int(conn.execute(PID).scalar_one())


def same_backend(conn: sa.Connection, pid: int) -> None:
    assert conn.execute(PID).scalar_one() == pid, "the pool gave another connection"


def _admin(db: TestDatabase, statement: sql.Composable | str) -> None:
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(statement)


# --- tenantkit.* set at session level ---------------------------------------------


def _spoof(org: SeededOrg) -> list[str]:
    return [
        f"SELECT set_config('tenantkit.user_id', '{org.member_id}', false)",
        f"SET tenantkit.org_id = '{org.org_id}'",
        # Even a stamp copied from this transaction is an earlier transaction's later on.
        "SELECT set_config('tenantkit.bound', current_setting('tenantkit.bound'), false)",
    ]


@pytest.mark.parametrize("next_use", ["unbound", "autocommit", "bound"])
def test_session_level_tenant_settings_never_reach_a_later_checkout(
    engine: sa.Engine, notes: TwoOrgs, protection: bool, next_use: str
) -> None:
    # Checkout 1, bound to A, sets B's ids at session level (what injected SQL could do).
    pid = leave_behind(engine, notes.a, *_spoof(notes.b))
    if next_use == "autocommit":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            same_backend(conn, pid)
            seen = {r[0] for r in conn.execute(NOTE_ORGS)}
    else:
        ctx = ctx_of(notes.a) if next_use == "bound" else None
        with checkout(engine, ctx) as conn:
            same_backend(conn, pid)
            seen = {r[0] for r in conn.execute(NOTE_ORGS)}
    # Bound transactions override the values; unbound work sees no tenant rows,
    # whether or not the checkout cleanup ran: the binding stamp holds on its own.
    assert seen == ({notes.a.org_id} if next_use == "bound" else set())


@pytest.mark.parametrize("how", ["set-and-set_config", "set_config-only"])
@pytest.mark.parametrize("next_use", ["unbound", "autocommit"])
def test_session_level_settings_are_reset_for_the_next_checkout(
    engine: sa.Engine, notes: TwoOrgs, protection: bool, how: str, next_use: str
) -> None:
    # Not a binding (the stamp), but not even readable: the next user must not
    # learn an earlier user's ids. set_config() inside a SELECT has no telling
    # command tag; the checkout probe's settings fingerprint finds it.
    statements = _spoof(notes.b)
    if how == "set_config-only":
        statements[1] = f"SELECT set_config('tenantkit.org_id', '{notes.b.org_id}', false)"
        assert not any(s.startswith("SET") for s in statements)
    pid = leave_behind(engine, notes.a, *statements)
    with engine.connect() as conn:
        if next_use == "autocommit":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        same_backend(conn, pid)
        values = conn.execute(sa.text(
            "SELECT current_setting('tenantkit.user_id', true), "
            "current_setting('tenantkit.org_id', true), "
            "current_setting('tenantkit.bound', true)")).one()
        conn.rollback()
    assert all(v in ("", None) for v in values) is protection


@pytest.mark.parametrize("next_use", ["unbound", "autocommit"])
def test_without_both_protections_a_session_setting_leaks(
    engine: sa.Engine, notes: TwoOrgs, without_stamp_check: None,
    monkeypatch: pytest.MonkeyPatch, next_use: str,
) -> None:
    # The attack the stamp and the cleanup each close on their own: with neither,
    # the next checkout acts as B.
    monkeypatch.setattr(binding._TenantBinding, "_reset", _no_reset)
    pid = leave_behind(engine, notes.a, *_spoof(notes.b))
    with engine.connect() as conn:
        if next_use == "autocommit":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        same_backend(conn, pid)
        assert {r[0] for r in conn.execute(NOTE_ORGS)} == {notes.b.org_id}
        conn.rollback()


# --- session objects ----------------------------------------------------------------


def test_with_hold_cursor(engine: sa.Engine, notes: TwoOrgs, protection: bool) -> None:
    pid = leave_behind(
        engine, notes.a, "DECLARE leak CURSOR WITH HOLD FOR SELECT body FROM public.notes"
    )
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        if protection:
            with pytest.raises(sa.exc.ProgrammingError, match="leak"):
                conn.exec_driver_sql("FETCH ALL FROM leak")
            conn.rollback()
        else:
            bodies = [r[0] for r in conn.exec_driver_sql("FETCH ALL FROM leak")]
            assert len(bodies) == NOTES_PER_ORG and all(notes.a.name in b for b in bodies)


@pytest.mark.parametrize("screened", [True, False], ids=["protected", "exposed"])
@pytest.mark.parametrize(
    "statement",
    ["DECLARE leak CURSOR WITH HOLD FOR SELECT body FROM public.notes", "LISTEN org_a_events"],
    ids=["with-hold", "listen"],
)
def test_statements_run_through_stream(
    engine: sa.Engine, notes: TwoOrgs, monkeypatch: pytest.MonkeyPatch,
    statement: str, screened: bool,
) -> None:
    # cursor.stream() keeps no command tags to screen: it is judged by its verb,
    # like executemany. Exposed: psycopg's own stream(), which nobody screens.
    if not screened:
        monkeypatch.setattr(binding.TenantCursor, "stream", psycopg.Cursor.stream)
    with checkout(engine, ctx_of(notes.a)) as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with pytest.raises(psycopg.ProgrammingError, match="didn't produce a result"):
            list(driver.cursor().stream(statement))  # ran, then psycopg complains
        pid = int(conn.execute(PID).scalar_one())
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        left = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM pg_cursors WHERE is_holdable)"
            " + (SELECT count(*) FROM pg_listening_channels())").scalar()
    assert left == (0 if screened else 1)


@pytest.mark.parametrize("screened", [True, False], ids=["protected", "exposed"])
def test_an_apps_own_cursor_class_is_screened_too(
    tenantkit_db: TestDatabase, notes: TwoOrgs, monkeypatch: pytest.MonkeyPatch, screened: bool
) -> None:
    # connect_args={"cursor_factory": ClientCursor} (common behind PgBouncer) once
    # replaced tenantkit's cursor: nothing screened, the WITH HOLD cursor survived.
    if not screened:
        monkeypatch.setattr(binding, "_screening", lambda factory, base: factory or base)
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0,
                                     connect_args={"cursor_factory": psycopg.ClientCursor})
    try:
        pid = leave_behind(
            engine, notes.a, "DECLARE leak CURSOR WITH HOLD FOR SELECT body FROM public.notes")
        with checkout(engine, ctx_of(notes.b)) as conn:
            same_backend(conn, pid)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            assert isinstance(cursor, psycopg.ClientCursor)  # the app's class, still
            assert isinstance(cursor, binding.TenantCursor) is screened
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_cursors WHERE is_holdable").scalar()
    finally:
        engine.dispose()
    assert left == (0 if screened else 1)


def test_a_cursor_factory_that_is_no_class_is_refused(tenantkit_db: TestDatabase) -> None:
    with pytest.raises(tenantkit.BindingError, match="cursor_factory"):
        binding.TenantConnection.connect(
            tenantkit_db.conninfo("app"), cursor_factory=lambda *a: None)


def test_the_app_role_cannot_create_temporary_tables(engine: sa.Engine, notes: TwoOrgs) -> None:
    with checkout(engine, ctx_of(notes.a)) as conn, pytest.raises(
        sa.exc.ProgrammingError, match="permission denied"
    ):
        conn.exec_driver_sql("CREATE TEMP TABLE t (x int)")


def test_temporary_table_shadowing_an_unqualified_name(
    engine: sa.Engine, notes: TwoOrgs, protection: bool, app_may_create_temp: None
) -> None:
    # pg_temp is searched first for relations: A's temp "notes" would answer B's
    # unqualified "notes" if it survived the checkout.
    pid = leave_behind(
        engine, notes.a,
        "CREATE TEMP TABLE notes AS SELECT org_id, body FROM public.notes",
    )
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        orgs = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT org_id::text FROM notes")}
    assert orgs == ({notes.b.org_id} if protection else {notes.a.org_id})


def test_temporary_tables_live_within_their_own_checkout(
    engine: sa.Engine, notes: TwoOrgs, app_may_create_temp: None
) -> None:
    with checkout(engine, ctx_of(notes.a)) as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE scratch (x int)")
        conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
        conn.commit()
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar() == 1


@pytest.mark.parametrize(
    "statement",
    ["LISTEN org_a_events", "DO $$ BEGIN EXECUTE 'LISTEN org_a_events'; END $$"],
    ids=["listen", "dynamic-sql-in-do"],
)
def test_listen_registrations(
    engine: sa.Engine, notes: TwoOrgs, protection: bool, statement: str
) -> None:
    # A DO block hides the LISTEN from the command tag ("DO"), which still counts
    # as a statement that may leave objects: the objects probe finds it.
    pid = leave_behind(engine, notes.a, statement)
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        channels = [r[0] for r in conn.exec_driver_sql("SELECT pg_listening_channels()")]
    assert channels == ([] if protection else ["org_a_events"])


def test_session_advisory_locks(
    engine: sa.Engine, notes: TwoOrgs, tenantkit_db: TestDatabase, protection: bool
) -> None:
    pid = leave_behind(engine, notes.a, "SELECT pg_advisory_lock(4242)")
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        with psycopg.connect(tenantkit_db.conninfo("app"), autocommit=True) as other:
            free = other.execute("SELECT pg_try_advisory_lock(4242)").fetchone()
            assert free is not None
            other.execute("SELECT pg_advisory_unlock_all()")
    assert free[0] is protection


def test_advisory_locks_are_kept_within_their_own_checkout(
    engine: sa.Engine, notes: TwoOrgs, tenantkit_db: TestDatabase
) -> None:
    with checkout(engine, ctx_of(notes.a)) as conn:
        conn.exec_driver_sql("SELECT pg_advisory_lock(4343)")
        conn.commit()
        conn.exec_driver_sql("SELECT 1")  # a second transaction of the same checkout
        with psycopg.connect(tenantkit_db.conninfo("app"), autocommit=True) as other:
            assert other.execute("SELECT pg_try_advisory_lock(4343)").fetchone() == (False,)
        conn.exec_driver_sql("SELECT pg_advisory_unlock(4343)")


def test_sql_prepared_statements(engine: sa.Engine, notes: TwoOrgs, protection: bool) -> None:
    pid = leave_behind(engine, notes.a, "PREPARE leak AS SELECT 'a secret of org A'::text")
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        if protection:
            with pytest.raises(sa.exc.ProgrammingError, match="leak"):
                conn.exec_driver_sql("EXECUTE leak")
            conn.rollback()
        else:
            assert conn.exec_driver_sql("EXECUTE leak").scalar() == "a secret of org A"


@pytest.mark.parametrize(
    ("statement", "probe", "expected"),
    [
        ("SET search_path = tenantkit, public", "SHOW search_path", '"$user", public'),
        ("SET row_security = off", "SHOW row_security", "on"),
        ("SET statement_timeout = '1ms'", "SHOW statement_timeout", "0"),
        ("SET default_transaction_read_only = on", "SHOW default_transaction_read_only", "off"),
        ("SET TIME ZONE 'Pacific/Kiritimati'", "SHOW TimeZone", None),
        ("SELECT set_config('row_security', 'off', false)", "SHOW row_security", "on"),
        ("SELECT set_config('search_path', 'tenantkit', false)", "SHOW search_path", None),
        ("SET lock_timeout = '2ms'", "SHOW lock_timeout", "0"),
        # A SET LOCAL first does not make the statements after it local.
        ("SET LOCAL work_mem = '8MB'; SET statement_timeout = '1ms'",
         "SHOW statement_timeout", "0"),
    ],
)
def test_session_settings(
    engine: sa.Engine, notes: TwoOrgs, protection: bool,
    statement: str, probe: str, expected: str | None,
) -> None:
    with checkout(engine, None) as conn:
        baseline = conn.exec_driver_sql(probe).scalar()
    pid = leave_behind(engine, notes.a, statement)
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        value = conn.exec_driver_sql(probe).scalar()
    if expected is not None:
        assert baseline == expected
    assert (value == baseline) is protection


@pytest.fixture
def harmless_role(tenantkit_db: TestDatabase) -> Iterator[str]:
    """A NOLOGIN role the app role is a member of: SET ROLE to it is allowed."""
    name = f"tk_helper_{tenantkit_db.roles.app[-8:]}"
    _admin(tenantkit_db, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    _admin(tenantkit_db, sql.SQL("GRANT {} TO {}").format(
        sql.Identifier(name), sql.Identifier(tenantkit_db.roles.app)))
    yield name
    _admin(tenantkit_db, sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_set_role(
    engine: sa.Engine, notes: TwoOrgs, protection: bool, harmless_role: str,
    tenantkit_db: TestDatabase,
) -> None:
    pid = leave_behind(engine, notes.a, f'SET ROLE "{harmless_role}"')
    with checkout(engine, ctx_of(notes.b)) as conn:
        same_backend(conn, pid)
        who = conn.exec_driver_sql("SELECT current_user").scalar()
    assert who == (tenantkit_db.roles.app if protection else harmless_role)


# --- what the cleanup must not undo -------------------------------------------------


def test_connect_time_settings_survive_a_cleanup(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_connection: psycopg.Connection[Any], record: object) -> None:
        dbapi_connection.execute("SET statement_timeout = '12345ms'")
        dbapi_connection.execute("SET search_path = public, tenantkit")
        dbapi_connection.commit()

    try:
        leave_behind(engine, notes.a, "SET statement_timeout = '1ms'", "LISTEN x")
        with checkout(engine, ctx_of(notes.b)) as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "12345ms"
            assert conn.exec_driver_sql("SHOW search_path").scalar() == "public, tenantkit"
            assert conn.exec_driver_sql("SELECT pg_listening_channels()").all() == []
            assert {r[0] for r in conn.execute(NOTE_ORGS)} == {notes.b.org_id}
    finally:
        engine.dispose()


def test_a_clean_checkout_costs_no_extra_round_trip(
    tenantkit_db: TestDatabase, notes: TwoOrgs, tmp_path: Path
) -> None:
    # libpq's trace of a whole checkout: the first transaction sends BEGIN and the
    # bind-with-probe in one round trip, like any bound transaction; a dirty
    # connection costs at most one more.
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    trace_file = tmp_path / "trace"

    def round_trips_of_a_request() -> int:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
        with trace_file.open("w") as f:
            driver.pgconn.trace(f.fileno())
            driver.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                with checkout(engine, ctx_of(notes.a)) as conn:
                    conn.execute(NOTE_ORGS).all()
            finally:
                driver.pgconn.untrace()
        return _round_trips(trace_file.read_text())

    try:
        leave_behind(engine, notes.a)  # first use: the gate and the baseline
        clean = round_trips_of_a_request()
        # A SET seen by its command tag: the reset rides the BEGIN round trip.
        leave_behind(engine, notes.a, "SET search_path = tenantkit")
        seen = round_trips_of_a_request()
        # A setting changed inside a SELECT: found by the probe, one more round trip.
        leave_behind(engine, notes.a, "SELECT set_config('search_path', 'tenantkit', false)")
        probed = round_trips_of_a_request()
        assert clean == 3  # BEGIN + bind (and probe), SELECT, COMMIT
        assert seen == clean
        assert probed == clean + 1
    finally:
        engine.dispose()


async def test_async_checkouts_are_cleaned_too(
    tenantkit_db: TestDatabase, notes: TwoOrgs, protection: bool
) -> None:
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    try:
        with tenant_context(ctx_of(notes.a)):
            async with engine.connect() as conn:
                await conn.exec_driver_sql("LISTEN async_leak")
                await conn.exec_driver_sql(
                    "DECLARE c CURSOR WITH HOLD FOR SELECT body FROM public.notes")
                await conn.commit()
        with tenant_context(ctx_of(notes.b)):
            async with engine.connect() as conn:
                channels = (await conn.exec_driver_sql("SELECT pg_listening_channels()")).all()
                cursors = (await conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_cursors WHERE is_holdable")).scalar()
                orgs = {r[0] for r in await conn.execute(NOTE_ORGS)}
                await conn.rollback()
        assert (channels == [] and cursors == 0) is protection
        assert orgs == {notes.b.org_id}
    finally:
        await engine.dispose()
