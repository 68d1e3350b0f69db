"""A pooled connection reused across tenants never carries one tenant into the next."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import tenantkit
from tenantkit import tenant_context
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG

ORGS = sa.text("SELECT DISTINCT org_id::text FROM public.notes")
PID = sa.text("SELECT pg_backend_pid()")


@pytest.fixture
def one_conn_engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def seen(engine: sa.Engine) -> tuple[int, set[str]]:
    with engine.connect() as conn:
        pid = conn.execute(PID).scalar_one()
        orgs = {row[0] for row in conn.execute(ORGS)}
        conn.rollback()
        return pid, orgs


def test_after_commit(one_conn_engine: sa.Engine, notes: TwoOrgs) -> None:
    pids = set()
    for org in (notes.a, notes.b, notes.a):
        with tenant_context(org.context(org.member_id)), one_conn_engine.connect() as conn:
            pids.add(conn.execute(PID).scalar_one())
            assert {r[0] for r in conn.execute(ORGS)} == {org.org_id}
            conn.commit()
        pid, orgs = seen(one_conn_engine)
        pids.add(pid)
        assert orgs == set()
    assert len(pids) == 1  # really the same backend every time


def test_after_rollback_and_exception(one_conn_engine: sa.Engine, notes: TwoOrgs) -> None:
    with tenant_context(notes.a.context(notes.a.owner_id)), one_conn_engine.connect() as conn:
        conn.execute(
            sa.text("INSERT INTO public.notes (org_id, body) VALUES (:o, 'tmp')"),
            {"o": notes.a.org_id},
        )
        conn.rollback()
    assert seen(one_conn_engine)[1] == set()

    with (  # noqa: PT012 - the raise is the point: a failure mid-transaction
        pytest.raises(RuntimeError),
        tenant_context(notes.a.context(notes.a.owner_id)),
        one_conn_engine.begin() as conn,
    ):
        conn.execute(sa.text("SELECT count(*) FROM public.notes"))
        raise RuntimeError("handler failed mid-transaction")
    with tenant_context(notes.b.context(notes.b.owner_id)), one_conn_engine.connect() as conn:
        assert {r[0] for r in conn.execute(ORGS)} == {notes.b.org_id}
        conn.rollback()
    assert seen(one_conn_engine)[1] == set()


def test_after_sql_error(one_conn_engine: sa.Engine, notes: TwoOrgs) -> None:
    with tenant_context(notes.a.context(notes.a.owner_id)), one_conn_engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("SELECT 1/0"))
        conn.rollback()
    with tenant_context(notes.b.context(notes.b.member_id)):
        assert seen(one_conn_engine)[1] == {notes.b.org_id}
    assert seen(one_conn_engine)[1] == set()


async def test_after_async_cancellation_mid_query(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    try:

        async def slow_a() -> None:
            with tenant_context(notes.a.context(notes.a.owner_id)):
                async with AsyncSession(engine) as session:
                    await session.execute(sa.text("SELECT pg_sleep(5), count(*) FROM public.notes"))

        task = asyncio.create_task(slow_a())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        with tenant_context(notes.b.context(notes.b.member_id)):
            async with AsyncSession(engine) as session:
                rows = (await session.execute(ORGS)).scalars().all()
                assert set(rows) == {notes.b.org_id}
        async with AsyncSession(engine) as session:
            assert (await session.execute(ORGS)).scalars().all() == []
            count = (await session.execute(sa.text("SELECT count(*) FROM public.notes"))).scalar()
            assert count == 0
    finally:
        await engine.dispose()


async def test_async_sessions_bind_per_task(async_app_engine: object, notes: TwoOrgs) -> None:
    engine = async_app_engine
    for org in (notes.a, notes.b):
        with tenant_context(org.context(org.admin_id)):
            async with AsyncSession(engine) as session:  # type: ignore[arg-type]
                total = (
                    await session.execute(sa.text("SELECT count(*) FROM public.notes"))
                ).scalar()
                assert total == NOTES_PER_ORG
