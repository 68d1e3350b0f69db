"""A pooled connection whose server went away while idle never fails a request.

The first round trip of a transaction (BEGIN + bind) finds it dead before any
statement of the app ran, so tenantkit reconnects and runs the statement again:
no pre-ping, no extra round trip on healthy connections, no lost request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit import tenant_context
from tenantkit.db import _connection as binding
from tenantkit.testing import SeededOrg, TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG

PID = sa.text("SELECT pg_backend_pid()")
NOTE_ORGS = sa.text("SELECT org_id::text, count(*) FROM public.notes GROUP BY org_id")


def kill(db: TestDatabase, pid: int) -> None:
    """Terminate a backend and wait until the server has let it go."""
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the backend did not exit"
            time.sleep(0.01)


def request(engine: sa.Engine, org: SeededOrg | None) -> tuple[int, dict[str, int]]:
    ctx = org.context(org.member_id) if org else None
    with tenant_context(ctx), engine.connect() as conn:
        pid = int(conn.execute(PID).scalar_one())
        seen = {o: n for o, n in conn.execute(NOTE_ORGS).all()}
        conn.commit()
    return pid, seen


@pytest.fixture
def engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("next_use", ["bound", "unbound"])
def test_a_request_after_the_backend_died_runs_on_a_fresh_connection(
    engine: sa.Engine, tenantkit_db: TestDatabase, notes: TwoOrgs, next_use: str
) -> None:
    pid, _ = request(engine, notes.a)
    kill(tenantkit_db, pid)
    org = notes.b if next_use == "bound" else None
    new_pid, seen = request(engine, org)
    assert new_pid != pid
    assert seen == ({notes.b.org_id: NOTES_PER_ORG} if org else {})


def test_a_later_transaction_of_the_same_checkout_survives_too(
    engine: sa.Engine, tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    with tenant_context(notes.a.context(notes.a.member_id)), engine.connect() as conn:
        pid = conn.execute(PID).scalar_one()
        conn.commit()
        kill(tenantkit_db, pid)
        assert conn.execute(NOTE_ORGS).all() == [(notes.a.org_id, NOTES_PER_ORG)]
        assert conn.execute(PID).scalar_one() != pid
        conn.commit()


def test_the_fresh_connection_keeps_connect_time_settings_and_the_gate(
    tenantkit_db: TestDatabase, notes: TwoOrgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    gates: list[str] = []
    original = binding._TenantBinding._first_use

    def counted(self: Any) -> Any:
        gates.append("gate")
        return original(self)

    monkeypatch.setattr(binding._TenantBinding, "_first_use", counted)

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_connection: psycopg.Connection[Any], record: object) -> None:
        dbapi_connection.execute("SET statement_timeout = '4321ms'")
        dbapi_connection.commit()

    try:
        pid, _ = request(engine, notes.a)
        kill(tenantkit_db, pid)
        with tenant_context(notes.a.context(notes.a.member_id)), engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "4321ms"
            assert conn.execute(PID).scalar_one() != pid
            conn.commit()
        assert gates == ["gate", "gate"]  # the new backend passed the gate again
    finally:
        engine.dispose()


def test_a_connection_lost_mid_transaction_is_not_retried(
    engine: sa.Engine, tenantkit_db: TestDatabase, notes: TwoOrgs, count_notes: Any
) -> None:
    # Once a statement of the app ran, nobody can know what the server did with
    # it: the error reaches the caller, and nothing was committed.
    before = count_notes(notes.a.org_id)
    with tenant_context(notes.a.context(notes.a.owner_id)), engine.connect() as conn:
        conn.execute(
            sa.text("INSERT INTO public.notes (org_id, body) VALUES (:o, 'lost')"),
            {"o": notes.a.org_id},
        )
        kill(tenantkit_db, int(conn.execute(PID).scalar_one()))
        with pytest.raises(sa.exc.OperationalError):
            conn.execute(sa.text("SELECT 1"))
    assert count_notes(notes.a.org_id) == before
    assert request(engine, notes.a)[1] == {notes.a.org_id: NOTES_PER_ORG}


async def test_async_requests_survive_a_dead_backend(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    try:
        for org in (notes.a, notes.b):
            with tenant_context(org.context(org.member_id)):
                async with engine.connect() as conn:
                    pid = (await conn.execute(PID)).scalar_one()
                    await conn.commit()
                kill(tenantkit_db, pid)
                async with engine.connect() as conn:
                    rows = (await conn.execute(NOTE_ORGS)).all()
                    assert (await conn.execute(PID)).scalar_one() != pid
                    await conn.commit()
            assert rows == [(org.org_id, NOTES_PER_ORG)]
    finally:
        await engine.dispose()


def test_fault_run_loses_no_request(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    # 600 requests over a pool of 3, alternating orgs and unbound work; after
    # about one in five, an idle pooled backend is killed. Every request must
    # succeed and see exactly its own org.
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=3, max_overflow=0)
    rng = random.Random(9)
    failures: list[BaseException] = []
    kills = 0
    try:
        for i in range(600):
            org = (notes.a, notes.b, None)[i % 3]
            try:
                pid, seen = request(engine, org)
            except Exception as exc:  # every failure is counted, not just one kind
                failures.append(exc)
                continue
            assert seen == ({org.org_id: NOTES_PER_ORG} if org else {})
            if rng.random() < 0.2:
                kill(tenantkit_db, pid)
                kills += 1
    finally:
        engine.dispose()
    print(f"fault run: 600 requests, {kills} idle backends killed, {len(failures)} failed")
    assert kills > 50
    assert failures == []


def test_without_the_retry_such_a_request_fails(
    engine: sa.Engine, tenantkit_db: TestDatabase, notes: TwoOrgs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The protection switched off: the same sequence fails the request, so the
    # tests above would catch a regression.
    def no_retry(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return psycopg.Cursor.execute(self, query, params, **kwargs)

    monkeypatch.setattr(binding.TenantCursor, "execute", no_retry)
    pid, _ = request(engine, notes.a)
    kill(tenantkit_db, pid)
    with pytest.raises(sa.exc.OperationalError):
        request(engine, notes.b)


@pytest.mark.parametrize("pinged", ["unbound", "as-sqlalchemy-does"])
def test_pool_pre_ping_runs_unbound(
    tenantkit_db: TestDatabase, notes: TwoOrgs, pinged: str
) -> None:
    # tenantkit needs no pre-ping, but apps often set it. SQLAlchemy pings in
    # autocommit before the checkout, inside the request's context: as is, that
    # is refused (NotInTransaction) and every checkout failed; tenantkit pings unbound.
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0,
                                     pool_pre_ping=True)
    if pinged == "as-sqlalchemy-does":
        dialect = engine.dialect
        dialect.do_ping = type(dialect).do_ping.__get__(dialect)  # type: ignore[method-assign]
    try:
        pid, _ = request(engine, notes.a)
        if pinged == "as-sqlalchemy-does":
            with pytest.raises(tenantkit.NotInTransaction):
                request(engine, notes.b)
            return
        for org in (notes.b, None, notes.a):
            assert request(engine, org) == (pid, {org.org_id: NOTES_PER_ORG} if org else {})
        kill(tenantkit_db, pid)  # the ping finds it dead: the pool reconnects
        new_pid, seen = request(engine, notes.b)
        assert new_pid != pid and seen == {notes.b.org_id: NOTES_PER_ORG}
    finally:
        engine.dispose()


async def test_async_pool_pre_ping_runs_unbound(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0,
                                           pool_pre_ping=True)
    try:
        for org in (notes.a, notes.b, notes.a):
            with tenant_context(org.context(org.member_id)):
                async with engine.connect() as conn:
                    rows = (await conn.execute(NOTE_ORGS)).all()
                    await conn.commit()
            assert rows == [(org.org_id, NOTES_PER_ORG)]
    finally:
        await engine.dispose()
