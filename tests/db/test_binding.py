"""Binding the TenantContext to transactions: isolation, fail-closed and the rules."""

from __future__ import annotations

import os
import tempfile

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import tenantkit
from tenantkit import (
    ContextSwitchInTransaction,
    MissingTenantContext,
    NotInTransaction,
    TenantContext,
    tenant_context,
)
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG

NOTE_ORGS = sa.text("SELECT org_id::text, count(*) FROM public.notes GROUP BY org_id")
SETTINGS = sa.text(
    "SELECT current_setting('tenantkit.user_id', true), current_setting('tenantkit.org_id', true)"
)


def visible(session: Session) -> dict[str, int]:
    return {org: n for org, n in session.execute(NOTE_ORGS).all()}


def test_member_sees_only_their_org(app_sessions: sessionmaker[Session], notes: TwoOrgs) -> None:
    a, b = notes.a, notes.b
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert visible(session) == {a.org_id: NOTES_PER_ORG}
    with tenant_context(b.context(b.owner_id)), app_sessions() as session:
        assert visible(session) == {b.org_id: NOTES_PER_ORG}


def test_shared_user_sees_the_org_they_bind(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    for org in (notes.a, notes.b):
        with tenant_context(org.context(notes.shared_user_id)), app_sessions() as session:
            assert visible(session) == {org.org_id: NOTES_PER_ORG}


def test_no_context_sees_no_rows(
    app_sessions: sessionmaker[Session], notes: TwoOrgs, count_notes: object
) -> None:
    with app_sessions() as session:
        assert visible(session) == {}
        assert session.execute(SETTINGS).one() in ((None, None), ("", ""))


def test_non_member_of_the_named_org_sees_nothing(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    # A's member asks for B: the token might claim it, the database says no.
    with tenant_context(TenantContext(notes.a.member_id, notes.b.org_id)), app_sessions() as s:
        assert visible(s) == {}
        assert s.execute(sa.text("SELECT tenantkit.current_org_id()")).scalar() is None


def test_unknown_org_and_user_see_nothing(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    ghost = "00000000-0000-4000-8000-000000000000"
    for ctx in (TenantContext(notes.a.owner_id, ghost), TenantContext(ghost, notes.a.org_id)):
        with tenant_context(ctx), app_sessions() as session:
            assert visible(session) == {}


def test_write_to_other_org_is_refused(
    app_sessions: sessionmaker[Session], notes: TwoOrgs, count_notes: object
) -> None:
    before = count_notes(notes.b.org_id)  # type: ignore[operator]
    with tenant_context(notes.a.context(notes.a.owner_id)), app_sessions() as session:
        with pytest.raises(sa.exc.ProgrammingError) as info:
            session.execute(
                sa.text("INSERT INTO public.notes (org_id, body) VALUES (:org, 'x')"),
                {"org": notes.b.org_id},
            )
        assert info.value.orig is not None
        assert info.value.orig.sqlstate == "42501"
    assert count_notes(notes.b.org_id) == before  # type: ignore[operator]


def test_binding_is_transaction_local(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    ctx = notes.a.context(notes.a.admin_id)
    with app_engine.connect() as conn:
        with tenant_context(ctx):
            assert conn.execute(SETTINGS).one() == (ctx.user_id, ctx.org_id)
            conn.commit()
        # Same physical connection, next transaction, no context: the setting reads ''.
        assert conn.execute(SETTINGS).one() == ("", "")
        assert {o for o, _ in conn.execute(NOTE_ORGS).all()} == set()


def test_each_transaction_rebinds(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    with app_engine.connect() as conn:
        for org in (notes.a, notes.b, notes.a):
            with tenant_context(org.context(org.member_id)):
                assert {o for o, _ in conn.execute(NOTE_ORGS).all()} == {org.org_id}
                conn.rollback()


def test_orm_flush_first_is_bound(app_sessions: sessionmaker[Session], notes: TwoOrgs) -> None:
    # The peer library that missed this inserted into the previous tenant's org.
    metadata = sa.MetaData()
    note = sa.Table(
        "notes",
        metadata,
        sa.Column("org_id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("body", sa.Text),
        schema="public",
    )
    with tenant_context(notes.b.context(notes.b.member_id)), app_sessions() as session:
        session.execute(sa.insert(note).values(org_id=notes.b.org_id, body="flushed first"))
        with pytest.raises(sa.exc.ProgrammingError):
            session.execute(sa.insert(note).values(org_id=notes.a.org_id, body="cross"))
        session.rollback()


def test_strict_engine_refuses_unbound_work(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), strict=True, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            with pytest.raises(MissingTenantContext):
                conn.execute(sa.text("SELECT 1"))
            conn.rollback()
            with tenant_context(notes.a.context(notes.a.owner_id)):
                assert conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == (
                    NOTES_PER_ORG
                )
    finally:
        engine.dispose()


def test_autocommit_with_context_raises(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    with app_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with tenant_context(notes.a.context(notes.a.owner_id)), pytest.raises(NotInTransaction):
            conn.execute(sa.text("SELECT count(*) FROM public.notes"))
        # Without a context, autocommit work is allowed and sees no tenant rows.
        assert conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == 0


def test_switching_context_inside_a_transaction_raises(
    app_engine: sa.Engine, notes: TwoOrgs
) -> None:
    with app_engine.connect() as conn:
        with tenant_context(notes.a.context(notes.a.owner_id)):
            conn.execute(sa.text("SELECT 1"))
            with (
                tenant_context(notes.b.context(notes.b.owner_id)),
                pytest.raises(ContextSwitchInTransaction),
            ):
                conn.execute(sa.text("SELECT count(*) FROM public.notes"))
            conn.rollback()
        # Leaving the context while the transaction is open is a switch too.
        with tenant_context(notes.a.context(notes.a.owner_id)):
            conn.execute(sa.text("SELECT 1"))
        with pytest.raises(ContextSwitchInTransaction):
            conn.execute(sa.text("SELECT count(*) FROM public.notes"))
        conn.rollback()


def test_nested_same_context_is_not_a_switch(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    ctx = notes.a.context(notes.a.owner_id)
    with app_engine.connect() as conn, tenant_context(ctx):
        conn.execute(sa.text("SELECT 1"))
        with tenant_context(TenantContext(ctx.user_id, ctx.org_id)):
            assert conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == (
                NOTES_PER_ORG
            )
        conn.rollback()


@pytest.mark.parametrize("reset", ["RESET ALL", "DISCARD ALL"])
def test_reset_all_and_discard_all_stay_closed(
    tenantkit_db: TestDatabase, notes: TwoOrgs, reset: str
) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            with tenant_context(notes.a.context(notes.a.owner_id)):
                assert conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == 3
                conn.commit()
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.autocommit = True
            driver.execute(reset)
            driver.autocommit = False
            assert conn.execute(SETTINGS).one() == ("", "")
            assert conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == 0
            conn.rollback()
            # DISCARD ALL also drops the prepared bind statement: binding recovers.
            with tenant_context(notes.b.context(notes.b.member_id)):
                assert {o for o, _ in conn.execute(NOTE_ORGS).all()} == {notes.b.org_id}
                conn.rollback()
    finally:
        engine.dispose()


def test_settings_are_never_session_level(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    with app_engine.connect() as conn:
        with tenant_context(notes.a.context(notes.a.owner_id)):
            conn.execute(sa.text("SELECT 1"))
            conn.rollback()
        row = conn.execute(
            sa.text("SELECT source FROM pg_settings WHERE name = 'tenantkit.org_id'")
        ).first()
        # A transaction-local value leaves no session-level source behind.
        assert row is None or row[0] != "session"
        conn.rollback()


def _round_trips(trace: str) -> int:
    """Client-to-server direction changes in a libpq trace: one per round trip."""
    trips, previous = 0, "B"
    for line in trace.splitlines():
        direction = line.split("\t", 1)[0].split(" ", 1)[0]
        if direction == "F" and previous == "B":
            trips += 1
        if direction in ("F", "B"):
            previous = direction
    return trips


def _traced(engine: sa.Engine, ctx: TenantContext | None) -> tuple[int, str]:
    with engine.connect() as conn:
        with tenant_context(ctx):  # connect and the once-per-connection check, untraced
            conn.execute(sa.text("SELECT 1"))
            conn.rollback()
        pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        with tempfile.TemporaryFile("w+") as f:
            pgconn.trace(f.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            with tenant_context(ctx):
                conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar()
                conn.commit()
            pgconn.untrace()
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            trace = f.read()
    return _round_trips(trace), trace


def test_binding_adds_no_round_trip(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    unbound, _ = _traced(app_engine, None)
    bound, trace = _traced(app_engine, notes.a.context(notes.a.owner_id))
    assert unbound == 3  # BEGIN, SELECT, COMMIT
    assert bound == unbound, trace
    # One parameterised statement, bound values sent as parameters, never as SQL text.
    # One parameterised statement, prepared once per connection: later transactions
    # send only its name and the two values.
    assert "_tenantkit_bind" in trace
    assert notes.a.org_id in trace.split("_tenantkit_bind", 1)[1]


def test_set_local_binding_for_citus(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    engine = tenantkit.create_engine(
        tenantkit_db.url("app"), binding="set_local", poolclass=sa.NullPool
    )
    try:
        ctx = notes.b.context(notes.b.admin_id)
        with engine.connect() as conn:
            with tenant_context(ctx):
                assert conn.execute(SETTINGS).one() == (ctx.user_id, ctx.org_id)
                assert {o for o, _ in conn.execute(NOTE_ORGS).all()} == {notes.b.org_id}
                conn.commit()
            assert conn.execute(SETTINGS).one() == ("", "")
            conn.rollback()
    finally:
        engine.dispose()


def test_bind_statement_is_parameterised(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    with app_engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT statement FROM pg_prepared_statements WHERE name = '_tenantkit_bind'")
        ).all()
        conn.rollback()
    assert len(rows) == 1
    assert "set_config('tenantkit.user_id', $1, true)" in rows[0][0]
    assert "set_config('tenantkit.org_id', $2, true)" in rows[0][0]


def test_unprepared_binding_when_prepared_statements_are_off(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    # prepare_threshold=None is psycopg's switch for poolers without prepared statements.
    engine = tenantkit.create_engine(
        tenantkit_db.url("app"), poolclass=sa.NullPool, connect_args={"prepare_threshold": None}
    )
    try:
        with tenant_context(notes.a.context(notes.a.member_id)), engine.connect() as conn:
            assert {o for o, _ in conn.execute(NOTE_ORGS).all()} == {notes.a.org_id}
            assert (
                conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements")).scalar() == 0
            )
            conn.rollback()
    finally:
        engine.dispose()


def test_binding_inside_a_psycopg_pipeline(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    ctx = notes.a.context(notes.a.member_id)
    with app_engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with tenant_context(ctx), driver.pipeline():
            settings = driver.execute(
                "SELECT current_setting('tenantkit.user_id'), current_setting('tenantkit.org_id')"
            )
            orgs = driver.execute("SELECT DISTINCT org_id::text FROM public.notes")
            assert settings.fetchone() == (ctx.user_id, ctx.org_id)
            assert orgs.fetchall() == [(notes.a.org_id,)]
        driver.rollback()
        assert conn.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == 0
        conn.rollback()
