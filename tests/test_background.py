"""Background work: explicit contexts, carried into threads and tasks, failing closed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from tenantkit import MissingTenantContext, TenantContext, create_engine, tenant_context
from tenantkit.background import bind_context, create_task, run_with_context, submit
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG


@pytest.fixture(scope="module")
def strict_engine(tenantkit_db: TestDatabase) -> Iterator[Engine]:
    engine = create_engine(tenantkit_db.url("app"), strict=True, pool_size=2)
    yield engine
    engine.dispose()


def note_orgs(engine: Engine) -> list[str]:
    with engine.begin() as conn:
        return [str(r[0]) for r in conn.execute(text("SELECT org_id FROM public.notes"))]


def test_without_context_strict_raises(strict_engine: Engine, notes: TwoOrgs) -> None:
    with pytest.raises(MissingTenantContext):
        run_with_context(None, note_orgs, strict_engine)
    with ThreadPoolExecutor(1) as pool, pytest.raises(MissingTenantContext):
        submit(pool, note_orgs, strict_engine).result()


def test_without_context_non_strict_sees_nothing(app_engine: Engine, notes: TwoOrgs) -> None:
    assert run_with_context(None, note_orgs, app_engine) == []
    with ThreadPoolExecutor(1) as pool:
        assert submit(pool, note_orgs, app_engine).result() == []


def test_strict_helpers_refuse_early(notes: TwoOrgs) -> None:
    with pytest.raises(MissingTenantContext):
        bind_context(print, strict=True)
    with ThreadPoolExecutor(1) as pool, pytest.raises(MissingTenantContext):
        submit(pool, print, strict=True)


def test_context_is_carried_into_executors(strict_engine: Engine, notes: TwoOrgs) -> None:
    a, b = notes.a, notes.b
    with ThreadPoolExecutor(2) as pool:
        with tenant_context(a.context(a.member_id)):
            carried = submit(pool, note_orgs, strict_engine)
            job = bind_context(note_orgs)
            # Another org, chosen explicitly, while A is bound here.
            other = submit(pool, note_orgs, strict_engine, ctx=b.context(b.member_id))
        assert set(carried.result()) == {a.org_id}
        assert len(carried.result()) >= NOTES_PER_ORG
        assert set(other.result()) == {b.org_id}
        # Wrapped while A was bound, run later in a pool thread: still A.
        assert set(pool.submit(job, strict_engine).result()) == {a.org_id}
        # The worker threads kept nothing bound.
        with pytest.raises(MissingTenantContext):
            pool.submit(note_orgs, strict_engine).result()


def test_plain_executor_threads_do_not_inherit(strict_engine: Engine, notes: TwoOrgs) -> None:
    # Why the helpers exist: a bare executor.submit() runs unbound (and strict refuses).
    bound = tenant_context(notes.a.context(notes.a.member_id))
    with ThreadPoolExecutor(1) as pool, bound, pytest.raises(MissingTenantContext):
        pool.submit(note_orgs, strict_engine).result()


async def test_tasks(strict_engine: Engine, notes: TwoOrgs) -> None:
    a, b = notes.a, notes.b

    async def orgs() -> list[str]:
        return await asyncio.to_thread(note_orgs, strict_engine)

    with tenant_context(a.context(a.member_id)):
        carried = create_task(orgs())
        other = create_task(orgs(), ctx=b.context(b.member_id))
        unbound = create_task(orgs(), ctx=None)
    assert set(await carried) == {a.org_id}
    assert set(await other) == {b.org_id}
    with pytest.raises(MissingTenantContext):
        await unbound
    with pytest.raises(MissingTenantContext):
        create_task(orgs(), strict=True)


def test_job_queue_style(strict_engine: Engine, notes: TwoOrgs) -> None:
    # A queued job carries plain ids; the worker rebuilds the context.
    payload = {"user_id": notes.b.admin_id, "org_id": notes.b.org_id}
    ctx = TenantContext(payload["user_id"], payload["org_id"])
    assert set(run_with_context(ctx, note_orgs, strict_engine)) == {notes.b.org_id}
