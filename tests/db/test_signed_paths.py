"""Signed binding on every path (issue 10, point 5): the async engine
(`create_async_engine`) and the background helpers (`tenantkit.background`)
sign their bindings, and the attacks of `test_signed_binding.py` fail there.

Each test runs twice (the `signing` fixture): signing on, where the attack gets
nothing, and signing switched off, where the same attack works; two seeded
orgs, the attacker a Member of A running SQL of its choosing inside its own
bound transaction.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import tenantkit
from tenantkit import TenantContext, tenant_context
from tenantkit.background import bind_context, create_task, run_with_context, submit
from tenantkit.db.signing import BindingSigner
from tenantkit.errors import BindingError
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG

pytestmark = [
    pytest.mark.usefixtures("notes"),
    pytest.mark.skipif(os.environ.get("TENANTKIT_TEST_UNSIGNED") == "1",
                       reason="an unsigned run (TENANTKIT_TEST_UNSIGNED=1): nothing signs"),
]

NOTES = sa.text("SELECT count(*) FROM public.notes")
B_NOTES = sa.text("SELECT count(*) FROM public.notes WHERE org_id = :o")
SPOOF = sa.text(
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true)"
)
REPLAY = sa.text(
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true), "
    "set_config('tenantkit.signature', :s, true)"
)
SIGNATURE = sa.text("SELECT current_setting('tenantkit.signature'), tenantkit.current_user_id()")
OWNER_POWERS = sa.text(
    "SELECT tenantkit.has_min_role('Owner'), "
    "tenantkit.has_permission('tenantkit::can_delete_org')"
)


def _signer() -> BindingSigner:
    signer = BindingSigner.from_env()
    assert signer is not None, "the test run signs (tenantkit.testing.plugin.binding_key)"
    return signer


@pytest_asyncio.fixture
async def async_engine(tenantkit_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    """A fresh async engine per test: its first connection checks the key again."""
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


# --- the async engine ---------------------------------------------------------------


async def test_the_async_engine_signs_every_binding(
    async_engine: AsyncEngine, notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    with tenant_context(a.context(a.member_id)):
        async with async_engine.connect() as conn:
            signature, verified = (await conn.execute(SIGNATURE)).one()
            assert (await conn.execute(NOTES)).scalar_one() == NOTES_PER_ORG
    key, expiry, pid, mac = str(signature).split(":")
    assert key == _signer().key.key_id and len(mac) == 64
    assert int(expiry) > time.time()
    assert int(pid) in (0, await _backend_pid(async_engine))
    assert str(verified) == a.member_id


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_async_set_config_of_another_orgs_member_gives_nothing(
    async_engine: AsyncEngine, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    with tenant_context(a.context(a.member_id)):
        async with async_engine.connect() as conn:
            await conn.execute(SPOOF, {"u": b.member_id, "o": b.org_id})
            seen = (await conn.execute(B_NOTES, {"o": b.org_id})).scalar_one()
            write = sa.text("INSERT INTO public.notes (org_id, body) VALUES (:o, 'spoofed')")
            if signing:
                with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                    await conn.execute(write, {"o": b.org_id})
            else:
                await conn.execute(write, {"o": b.org_id})  # the hole signing closes
            await conn.rollback()
    assert seen == (0 if signing else NOTES_PER_ORG)


async def test_async_binding_as_ones_own_owner_gains_nothing(
    async_engine: AsyncEngine, notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    with tenant_context(a.context(a.member_id)):
        async with async_engine.connect() as conn:
            before = tuple((await conn.execute(OWNER_POWERS)).one())
            await conn.execute(SPOOF, {"u": a.owner_id, "o": a.org_id})
            after = tuple((await conn.execute(OWNER_POWERS)).one())
            await conn.rollback()
    assert before == (False, False)
    assert after == ((False, False) if signing else (True, True))


async def test_async_a_signature_from_another_session_or_expired_binds_nothing(
    async_engine: AsyncEngine, tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    # The victim: B's Owner on another async engine (another backend); the signature
    # is read inside its transaction, as a leak would expose it.
    victim_engine = tenantkit.create_async_engine(tenantkit_db.url("app"), poolclass=sa.NullPool)
    try:
        with tenant_context(b.context(b.owner_id)):
            async with victim_engine.connect() as victim:
                stolen = str((await victim.execute(SIGNATURE)).one()[0])
    finally:
        await victim_engine.dispose()
    signer = _signer()
    with tenant_context(a.context(a.member_id)):
        async with async_engine.connect() as conn:
            pid = int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            await _replay(conn, b.owner_id, b.org_id, stolen)
            replayed = (await conn.execute(B_NOTES, {"o": b.org_id})).scalar_one()
            await conn.rollback()
            expired = signer.sign(b.owner_id, b.org_id, pid, int(time.time()) - 5).decode()
            await _replay(conn, b.owner_id, b.org_id, expired)
            late = (await conn.execute(B_NOTES, {"o": b.org_id})).scalar_one()
            await conn.rollback()
    expected = 0 if signing else NOTES_PER_ORG
    assert (replayed, late) == (expected, expected)


async def _replay(conn: AsyncConnection, user: str, org: str, signature: str) -> None:
    await conn.execute(REPLAY, {"u": user, "o": org, "s": signature})


async def test_an_async_engine_without_the_key_is_refused_at_its_first_connection(
    tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), signer=None,
                                           poolclass=sa.NullPool)
    try:
        with tenant_context(a.context(a.member_id)):
            if signing:
                with pytest.raises(BindingError, match="requires signed binding"):
                    async with engine.connect() as conn:
                        await conn.execute(NOTES)
            else:
                async with engine.connect() as conn:
                    assert (await conn.execute(NOTES)).scalar_one() == NOTES_PER_ORG
    finally:
        await engine.dispose()


# --- the background helpers -----------------------------------------------------------


def _job(engine: sa.Engine, victim: TenantContext) -> tuple[str, int, int]:
    """A background job whose SQL is the attacker's: (signature's key, own notes, victim's
    notes after set_config'ing the victim)."""
    with engine.connect() as conn:
        signature = str(conn.execute(SIGNATURE).one()[0])
        own = int(conn.execute(NOTES).scalar_one())
        conn.execute(SPOOF, {"u": victim.user_id, "o": victim.org_id})
        stolen = int(conn.execute(B_NOTES, {"o": victim.org_id}).scalar_one())
        conn.rollback()
    return signature.split(":")[0], own, stolen


def _helpers(
    executor: ThreadPoolExecutor, ctx: TenantContext
) -> dict[str, Callable[[Callable[[], Any]], Any]]:
    """Each sync helper running a job for `ctx`, as an app would call it."""

    def carried(job: Callable[[], Any]) -> Any:
        with tenant_context(ctx):
            return submit(executor, job).result()

    def wrapped(job: Callable[[], Any]) -> Any:
        with tenant_context(ctx):
            bound = bind_context(job)
        return executor.submit(bound).result()  # runs on a thread with no context of its own

    return {
        "run_with_context": lambda job: run_with_context(ctx, job),
        "submit (carried)": carried,
        "submit (ctx=)": lambda job: submit(executor, job, ctx=ctx).result(),
        "bind_context": wrapped,
    }


def test_background_jobs_sign_and_their_injected_sql_gets_nothing(
    app_engine: sa.Engine, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    victim = b.context(b.owner_id)
    key = _signer().key.key_id
    with ThreadPoolExecutor(max_workers=2) as executor:
        for name, run in _helpers(executor, a.context(a.member_id)).items():
            signed_with, own, stolen = run(lambda: _job(app_engine, victim))
            assert (signed_with, own) == (key, NOTES_PER_ORG), name
            assert stolen == (0 if signing else NOTES_PER_ORG), name


async def test_background_tasks_on_the_async_engine_sign_and_get_nothing(
    async_engine: AsyncEngine, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b

    async def job() -> tuple[str, int, int]:
        async with async_engine.connect() as conn:
            signature = str((await conn.execute(SIGNATURE)).one()[0])
            own = int((await conn.execute(NOTES)).scalar_one())
            await conn.execute(SPOOF, {"u": b.owner_id, "o": b.org_id})
            stolen = int((await conn.execute(B_NOTES, {"o": b.org_id})).scalar_one())
            await conn.rollback()
        return signature.split(":")[0], own, stolen

    with tenant_context(a.context(a.member_id)):
        carried = create_task(job())
    explicit = create_task(job(), ctx=a.context(a.member_id))
    results = await asyncio.gather(carried, explicit)
    expected = (_signer().key.key_id, NOTES_PER_ORG, 0 if signing else NOTES_PER_ORG)
    assert results == [expected, expected]
