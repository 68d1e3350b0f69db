"""Background work under an explicit `TenantContext`: jobs, executors and asyncio tasks.

A job runs outside the request that queued it, so it must say whom it acts for:

    run_with_context(ctx, send_digest, note_id)          # now, in this thread
    submit(executor, send_digest, note_id)               # carries the current context
    create_task(send_digest_async(note_id))              # likewise, for asyncio
    job = bind_context(send_digest)                      # wrap once, run anywhere

A job queue (Celery, RQ, ...) carries `ctx.user_id` and `ctx.org_id` as plain
strings and the worker calls `run_with_context(TenantContext(user, org), job)`.

Fail closed: a job with no context runs unbound, and the engine decides: a
strict engine raises `MissingTenantContext`, any other sees no tenant rows.
`strict=True` here refuses already when the job is wrapped or submitted.
Executor threads never inherit a context by accident: every carried job runs
inside its own binding (None included), reset when it ends.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, Final, ParamSpec, TypeVar

from tenantkit.context import TenantContext, current_context, tenant_context
from tenantkit.errors import MissingTenantContext

__all__ = ["CURRENT", "bind_context", "create_task", "run_with_context", "submit"]

P = ParamSpec("P")
R = TypeVar("R")


class _Current:
    def __repr__(self) -> str:
        return "CURRENT"


#: "The context bound where the job is wrapped or submitted" (the default).
CURRENT: Final = _Current()

ContextChoice = TenantContext | None | _Current


def _resolve(ctx: ContextChoice, strict: bool) -> TenantContext | None:
    chosen = current_context() if isinstance(ctx, _Current) else ctx
    if chosen is not None and not isinstance(chosen, TenantContext):
        raise TypeError("ctx must be a TenantContext, None or CURRENT")
    if chosen is None and strict:
        raise MissingTenantContext(
            "this background job has no TenantContext; pass ctx= or bind one first"
        )
    return chosen


def run_with_context(
    ctx: TenantContext | None, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Call `fn(*args, **kwargs)` with `ctx` bound (None: explicitly unbound)."""
    with tenant_context(ctx):
        return fn(*args, **kwargs)


def bind_context(
    fn: Callable[P, R], /, *, ctx: ContextChoice = CURRENT, strict: bool = False
) -> Callable[P, R]:
    """`fn`, wrapped to run with `ctx` bound wherever it is called (a thread, a pool).

    ctx defaults to the context bound now, at wrapping time, not at call time.
    """
    chosen = _resolve(ctx, strict)

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        with tenant_context(chosen):
            return fn(*args, **kwargs)

    return bound


def submit(
    executor: Executor,
    fn: Callable[..., R],
    /,
    *args: Any,
    ctx: ContextChoice = CURRENT,
    strict: bool = False,
    **kwargs: Any,
) -> Future[R]:
    """`executor.submit(fn, ...)` with the current context (or `ctx`) bound in the worker.

    Works with thread and process pools: a `TenantContext` pickles, and is
    validated again when it arrives in the worker process.
    """
    chosen = _resolve(ctx, strict)
    return executor.submit(run_with_context, chosen, fn, *args, **kwargs)


def create_task(
    coro: Coroutine[Any, Any, R],
    /,
    *,
    ctx: ContextChoice = CURRENT,
    strict: bool = False,
    name: str | None = None,
) -> asyncio.Task[R]:
    """`asyncio.create_task` running `coro` with the current context (or `ctx`) bound.

    asyncio already copies the caller's context into a task; this makes the
    choice explicit, lets a task act for another org, and can fail early.
    """
    try:
        chosen = _resolve(ctx, strict)
    except BaseException:
        coro.close()  # refused: never started, and no "never awaited" warning
        raise

    async def bound() -> R:
        with tenant_context(chosen):
            return await coro

    return asyncio.get_running_loop().create_task(bound(), name=name)
