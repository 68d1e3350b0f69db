"""The context follows each asyncio task and never leaks into other work."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import tenant_context
from tenantkit.testing import TwoOrgs

ORGS = sa.text("SELECT DISTINCT org_id::text FROM public.notes")


async def test_100_concurrent_tasks_on_alternating_orgs(
    async_app_engine: AsyncEngine, notes: TwoOrgs
) -> None:
    async def one(i: int) -> tuple[str, list[str]]:
        org = notes.a if i % 2 else notes.b
        with tenant_context(org.context(org.member_id)):
            async with AsyncSession(async_app_engine) as session:
                await asyncio.sleep(0)  # interleave with the other tasks
                rows = (await session.execute(ORGS)).scalars().all()
                await session.execute(sa.text("SELECT pg_sleep(0.001)"))
                rows += (await session.execute(ORGS)).scalars().all()
                return org.org_id, list(rows)

    results = await asyncio.gather(*(one(i) for i in range(100)))
    assert len(results) == 100
    for expected, rows in results:
        assert rows == [expected, expected]


async def test_executor_without_context_sees_no_rows(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    def job() -> list[str]:
        with app_sessions() as session:
            return list(session.execute(ORGS).scalars())

    loop = asyncio.get_running_loop()
    with tenant_context(notes.a.context(notes.a.owner_id)):
        # run_in_executor does not copy the context: the job runs unbound.
        unbound = await loop.run_in_executor(None, job)
        # Carrying it explicitly binds the job to the same org, and only that org.
        carried = await loop.run_in_executor(None, contextvars.copy_context().run, job)
    assert unbound == []
    assert carried == [notes.a.org_id]


def test_threads_do_not_inherit_context(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    seen: list[list[str]] = []

    def job() -> None:
        with app_sessions() as session:
            seen.append(list(session.execute(ORGS).scalars()))

    with tenant_context(notes.b.context(notes.b.owner_id)):
        thread = threading.Thread(target=job)
        thread.start()
        thread.join()
    assert seen == [[]]
