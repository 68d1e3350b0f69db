"""`TenantContext` and `tenant_context()`: validated ids, immutable, and a ContextVar that
follows tasks but never leaks into a thread started without it (fail closed).

The database side (what a bound or unbound transaction sees) is tests/db/.
"""

from __future__ import annotations

import asyncio
import pickle
import re
import threading
import uuid
from contextvars import copy_context

import pytest

from tenantkit import InvalidTenantContext, TenantContext, current_context, tenant_context
from tenantkit.context import UUID_ANY_CASE, UUID_PATTERN

pytestmark = pytest.mark.nodb

USER = "31c41c16-c281-44ae-9602-8a047e3bf33d"
ORG = "1189c444-8a2d-4c41-8b4b-ae43ce79a492"
OTHER = "5c0d3b7e-6f0a-4c7e-9d4b-2f1e8a9b7c61"


def test_ids_are_kept_in_canonical_lower_case() -> None:
    ctx = TenantContext(USER.upper(), uuid.UUID(ORG))
    assert (ctx.user_id, ctx.org_id) == (USER, ORG)
    assert ctx == TenantContext(USER, ORG) and hash(ctx) == hash(TenantContext(USER, ORG))
    assert ctx != TenantContext(USER, OTHER)
    assert repr(ctx) == f"TenantContext(user_id={USER!r}, org_id={ORG!r})"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-uuid",
        f"{{{ORG}}}",  # braces: uuid.UUID() takes them, tenantkit does not
        f"urn:uuid:{ORG}",
        ORG.replace("-", ""),  # bare hex
        f" {ORG}",
        f"{ORG}\x00",
        ORG[:-1] + "g",
        "1189c444-8a2d-4c41-8b4b-ae43ce79a49\u0661",  # a non-ASCII digit
        None,
        42,
    ],
)
def test_anything_but_a_uuid_is_refused_before_any_round_trip(bad: object) -> None:
    with pytest.raises(InvalidTenantContext, match="org_id must be a UUID"):
        TenantContext(USER, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidTenantContext, match="user_id must be a UUID"):
        TenantContext(bad, ORG)  # type: ignore[arg-type]


def test_an_invalid_context_is_a_400() -> None:
    assert InvalidTenantContext.status_code == 400
    assert issubclass(InvalidTenantContext, ValueError)


def test_a_context_is_immutable() -> None:
    ctx = TenantContext(USER, ORG)
    with pytest.raises(AttributeError):
        ctx.org_id = OTHER  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ctx.anything = 1  # type: ignore[attr-defined]
    assert ctx.org_id == ORG


def test_a_pickled_context_is_validated_again_when_it_arrives() -> None:
    ctx = TenantContext(USER, ORG)
    assert pickle.loads(pickle.dumps(ctx)) == ctx  # noqa: S301  # our own bytes
    forged = pickle.dumps(ctx).replace(ORG.encode(), b"x" * len(ORG))
    with pytest.raises(InvalidTenantContext):
        pickle.loads(forged)  # noqa: S301  # our own bytes, tampered with on purpose


def test_one_uuid_pattern() -> None:
    assert UUID_PATTERN.fullmatch(ORG) and not UUID_PATTERN.fullmatch(ORG.upper())
    assert re.fullmatch(UUID_ANY_CASE, ORG.upper()) and re.fullmatch(UUID_ANY_CASE, ORG)


def test_tenant_context_binds_for_the_block_and_nests() -> None:
    outer, inner = TenantContext(USER, ORG), TenantContext(USER, OTHER)
    assert current_context() is None
    with tenant_context(outer) as bound:
        assert bound is outer and current_context() is outer
        with tenant_context(inner):
            assert current_context() is inner
        assert current_context() is outer
        with tenant_context(None):  # explicitly unbound
            assert current_context() is None
        assert current_context() is outer
    assert current_context() is None


def test_the_binding_is_reset_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), tenant_context(TenantContext(USER, ORG)):
        raise RuntimeError("boom")
    assert current_context() is None


def test_tenant_context_takes_only_a_context() -> None:
    with pytest.raises(TypeError), tenant_context((USER, ORG)):  # type: ignore[arg-type]
        pass
    assert current_context() is None


def test_a_thread_started_without_the_context_sees_none() -> None:
    seen: list[object] = []
    with tenant_context(TenantContext(USER, ORG)):
        thread = threading.Thread(target=lambda: seen.append(current_context()))
        thread.start()
        thread.join()
        copied = copy_context()
    assert seen == [None]  # fails closed: no identity by accident
    assert copied.run(current_context) == TenantContext(USER, ORG)  # only when carried


async def test_concurrent_tasks_never_see_each_others_context() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def acting(org_id: str) -> tuple[str | None, str | None]:
        with tenant_context(TenantContext(USER, org_id)):
            before = current_context()
            started.set()
            await release.wait()  # the other task binds its own org meanwhile
            after = current_context()
        return (before.org_id if before else None, after.org_id if after else None)

    first = asyncio.create_task(acting(ORG))
    await started.wait()
    second = asyncio.create_task(acting(OTHER))
    await asyncio.sleep(0)
    release.set()
    assert await first == (ORG, ORG)
    assert await second == (OTHER, OTHER)
    assert current_context() is None
