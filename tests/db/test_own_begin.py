"""Transactions that psycopg begins on its own bind or are refused.

psycopg's `transaction()` and `tpc_begin()` send their own BEGIN, past the
transaction start tenantkit hooks: such a transaction would skip the bind, the
checkout probe and the strict rule. Worse, after one bound transaction a
`transaction()` block under the same context ran silently unbound. They are
refused with a typed error; a `transaction()` inside an open (bound)
transaction is a savepoint and works. A `TenantConnection` made directly,
without an engine, obeys the rules from its first statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit import BindingError, UnsafeConnection, tenant_context
from tenantkit.db import TenantAsyncConnection, TenantConnection
from tenantkit.db import _connection as binding
from tenantkit.testing import SeededOrg, TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG

ORGS = "SELECT DISTINCT org_id::text FROM public.notes"
BOUND = "SELECT current_setting('tenantkit.org_id', true)"


@pytest.fixture
def engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _ctx(org: SeededOrg) -> tenantkit.TenantContext:
    return org.context(org.member_id)


@pytest.fixture
def driver(engine: sa.Engine) -> Iterator[psycopg.Connection[Any]]:
    raw = engine.raw_connection()
    conn = raw.driver_connection
    assert isinstance(conn, TenantConnection)
    try:
        yield conn
    finally:
        raw.close()


@pytest.mark.parametrize("bound", [True, False])
def test_transaction_after_a_bound_transaction_is_refused(
    driver: psycopg.Connection[Any], notes: TwoOrgs, bound: bool
) -> None:
    with tenant_context(_ctx(notes.a)):
        assert driver.execute(ORGS).fetchall() == [(notes.a.org_id,)]
        driver.commit()
    with tenant_context(_ctx(notes.a) if bound else None), pytest.raises(
        BindingError, match=r"transaction\(\) would begin a transaction past"
    ):
        driver.transaction()
    assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_without_the_refusal_transaction_runs_silently_unbound(
    driver: psycopg.Connection[Any], notes: TwoOrgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the refusal stops: the context is bound, yet the block is unbound.
    monkeypatch.setattr(binding._TenantBinding, "_tk_refuse_own_begin", lambda self, what: None)
    with tenant_context(_ctx(notes.a)):
        driver.execute(ORGS).fetchall()
        driver.commit()
        with driver.transaction():
            assert driver.execute(BOUND).fetchone() in ((None,), ("",))
            assert driver.execute(ORGS).fetchall() == []


def test_transaction_inside_a_bound_transaction_is_a_savepoint(
    driver: psycopg.Connection[Any], notes: TwoOrgs
) -> None:
    with tenant_context(_ctx(notes.b)):
        assert driver.execute(ORGS).fetchall() == [(notes.b.org_id,)]
        with driver.transaction():
            assert driver.execute(ORGS).fetchall() == [(notes.b.org_id,)]
            rows = driver.execute("SELECT count(*) FROM public.notes").fetchone()
        assert rows == (NOTES_PER_ORG,)
        driver.commit()


def test_autocommit_transaction_is_refused(
    driver: psycopg.Connection[Any], notes: TwoOrgs
) -> None:
    driver.autocommit = True
    try:
        with tenant_context(_ctx(notes.a)), pytest.raises(BindingError):
            driver.transaction()
    finally:
        driver.autocommit = False


def test_tpc_begin_is_refused(driver: psycopg.Connection[Any], notes: TwoOrgs) -> None:
    for ctx in (_ctx(notes.a), None):
        with tenant_context(ctx), pytest.raises(BindingError, match=r"tpc_begin\(\)"):
            driver.tpc_begin(driver.xid(1, "tk", "audit"))
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


async def test_async_transaction_and_tpc_begin_are_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, TenantAsyncConnection)
            with tenant_context(_ctx(notes.a)):
                assert await (await driver.execute(ORGS)).fetchall() == [(notes.a.org_id,)]
                async with driver.transaction():  # a savepoint: fine
                    assert await (await driver.execute(ORGS)).fetchall() == [(notes.a.org_id,)]
                await driver.commit()
                with pytest.raises(BindingError):
                    driver.transaction()
                with pytest.raises(BindingError):
                    await driver.tpc_begin(driver.xid(1, "tk", "audit"))
    finally:
        await engine.dispose()


# --- a TenantConnection made without an engine --------------------------------------


def test_a_direct_connection_binds(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    with TenantConnection.connect(tenantkit_db.conninfo("app")) as conn:
        for org in (notes.a, notes.b):
            with tenant_context(_ctx(org)):
                assert conn.execute(ORGS).fetchall() == [(org.org_id,)]
                conn.commit()
        assert conn.execute(ORGS).fetchall() == []


def test_a_direct_connection_passes_the_gate(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    with TenantConnection.connect(tenantkit_db.conninfo("admin")) as conn:
        for ctx in (_ctx(notes.a), None):
            with tenant_context(ctx), pytest.raises(UnsafeConnection, match="superuser"):
                conn.execute(ORGS)


async def test_a_direct_async_connection_passes_the_gate(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    async with await TenantAsyncConnection.connect(tenantkit_db.conninfo("admin")) as conn:
        with pytest.raises(UnsafeConnection, match="superuser"):
            await conn.execute(ORGS)
    async with await TenantAsyncConnection.connect(tenantkit_db.conninfo("app")) as conn:
        with tenant_context(_ctx(notes.b)):
            assert await (await conn.execute(ORGS)).fetchall() == [(notes.b.org_id,)]


def test_without_the_rules_a_direct_superuser_connection_reads_every_org(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    # As before: a direct connection stayed in the engine's set-up passthrough
    # forever, so neither the gate nor the binding ever ran.
    with TenantConnection.connect(
        tenantkit_db.conninfo("admin"), **{binding._POOLED: True}
    ) as conn, tenant_context(_ctx(notes.a)):
        seen = {row[0] for row in conn.execute(ORGS)}
    assert {notes.a.org_id, notes.b.org_id} <= seen
