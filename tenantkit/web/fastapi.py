"""FastAPI dependencies with PropelAuth's names, and sessions bound to the request's org.

    tk = TenantKit(verifier, sessions=sessionmaker(engine))
    tk.init_app(app)                                   # JSON error bodies

    @app.get("/org/{org_id}/is-admin")
    def is_admin(access: UserAndOrgMemberInfo =
                 Depends(tk.require_org_member_with_exact_role("Admin"))) -> dict[str, bool]:
        return {"is_admin": True}

    @app.get("/org/{org_id}/notes")
    def notes(session: Session = Depends(tk.session)) -> list[str]:
        return list(session.scalars(select(Note.body)))   # only this org's rows

Dependencies (each raises 401 without a valid token, 403 when not allowed):
- `tk.require_user` -> `Principal`; `tk.optional_user` -> `Principal | None`;
- `tk.require_org_member()`, `..._with_exact_role(role)`, `..._with_minimum_role(role)`,
  `..._with_permission(p)`, `..._with_all_permissions(ps)` -> `UserAndOrgMemberInfo`;
- `tk.tenant` -> `UserAndOrgMemberInfo`, with the `TenantContext` bound for the request;
- `tk.session` -> `Session`, `tk.async_session` -> `AsyncSession`: bound, one
  transaction per request, committed when the endpoint returns (before the
  response is sent) and rolled back when it raises anything.

With `TenantMiddleware` in front, the dependencies reuse its verified principal;
without it, they verify the header themselves. The org comes from the route's
`org_id` path parameter unless `org_id=` names other extractors. Every org the
request names must be the same one, or the request is refused with 400: the
middleware's, each of `org_id=`'s, and the route's `org_id` parameter. So the
org that was authorised is the org that is bound and the org the endpoint is
handed. Authentication and that check complete before a session exists, so a
refused request never takes a pool connection.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    nullcontext,
)
from contextvars import copy_context
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from starlette.requests import HTTPConnection, Request

from tenantkit import authz
from tenantkit.context import TenantContext, current_context, tenant_context
from tenantkit.errors import TenantkitError, Unauthorized
from tenantkit.startup import check_async_engine, check_engine
from tenantkit.tokens import Principal, Verifier
from tenantkit.web._auth import RequestAuth, authenticate_async, authorize
from tenantkit.web._database_errors import error_for
from tenantkit.web._extractors import (
    OrgFrom,
    OrgIdSources,
    path_param,
    sources_with_route,
)
from tenantkit.web._requirements import Requirement, UserAndOrgMemberInfo
from tenantkit.web._sessions import finish_session
from tenantkit.web.api_keys import ApiKeyCredentials, read_credentials
from tenantkit.web.asgi import ScopeView, request_auth

__all__ = ["TenantKit", "TenantkitHTTPException"]

R = TypeVar("R")

OrgDependency = Callable[[HTTPConnection], Awaitable[UserAndOrgMemberInfo]]

_MEMBER = Requirement.member()
_MIDDLEWARE = "TenantMiddleware"


class TenantkitHTTPException(HTTPException):
    """An `HTTPException` carrying the tenantkit error it stands for.

    Without `TenantKit.init_app` FastAPI answers it as `{"detail": message}`; with
    it, as tenantkit's `{"error": code, "message": message}`.
    """

    def __init__(self, error: TenantkitError) -> None:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        super().__init__(
            error.status_code,
            detail=error.message,
            headers=headers if error.status_code == 401 else None,
        )
        self.error = error


class TenantKit:
    """tenantkit's FastAPI integration: build one at startup and share it.

    sessions / async_sessions: factories on engines from `tenantkit.create_engine`
        / `create_async_engine`; needed only for `session` / `async_session`.
    org_id: where routes name their org (default: the `org_id` path parameter);
        one extractor or a list that must agree. The routed `org_id` parameter
        and `TenantMiddleware`'s org, when present, must agree with it too.
    api_keys: accept org API keys too (`tenantkit.web.ApiKeyCredentials`), when
        no `TenantMiddleware` in front did the authentication already.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        sessions: sessionmaker[Session] | None = None,
        async_sessions: async_sessionmaker[AsyncSession] | None = None,
        org_id: OrgIdSources | None = None,
        api_keys: ApiKeyCredentials | None = None,
    ) -> None:
        self.verifier = verifier
        self.api_keys = api_keys
        self.sessions = sessions
        self.async_sessions = async_sessions
        self.org_id: OrgFrom = sources_with_route(org_id if org_id is not None else path_param())
        self._session_slots = _Slots(_pool_capacity(sessions))
        self.session = self._session_dependency()
        self.async_session = self._async_session_dependency()

    def init_app(self, app: FastAPI, *, check_database: bool = True) -> None:
        """Answer tenantkit's errors and database refusals as JSON; check the engines at start.

        Registers handlers for `TenantkitHTTPException`, any `TenantkitError` a
        handler raises, and database errors (`tenantkit.web._database_errors`:
        23505 -> 409 and 23503 -> 404/409 naming the constraint, a policy's
        42501 -> 403, a missing GRANT -> 500, each logged). With
        `check_database`, the app's lifespan first runs `check_engine` on the
        sessions' engines: an unsafe role or a schema behind head stops the start.
        """
        app.add_exception_handler(TenantkitHTTPException, _handle_http_exception)
        app.add_exception_handler(TenantkitError, _handle_error)
        app.add_exception_handler(DBAPIError, _handle_database_error)
        if check_database:
            _check_at_startup(app, self.sessions, self.async_sessions)

    # --- who -------------------------------------------------------------------------

    async def require_user(self, connection: HTTPConnection) -> Principal:
        """Dependency: the verified user (401 without a valid token; an org API key: 403)."""
        principal = await _guard(self._principal(connection, False))
        if principal is None:
            raise TenantkitHTTPException(Unauthorized("authentication required"))
        return _refuse_key(principal)

    async def optional_user(self, connection: HTTPConnection) -> Principal | None:
        """Dependency: the user, or None without an Authorization header (bad one: 401;
        an org API key: 403)."""
        principal = await _guard(self._principal(connection, True))
        return None if principal is None else _refuse_key(principal)

    # --- which org, with which rights -----------------------------------------------

    def require_org_member(self) -> OrgDependency:
        """Dependency factory: any member of the requested org."""
        return self._org_dependency(_MEMBER)

    def require_org_member_with_exact_role(self, role: str) -> OrgDependency:
        """Dependency factory: a member whose role is exactly `role`."""
        return self._org_dependency(Requirement.exact_role(role))

    def require_org_member_with_minimum_role(self, minimum_role: str) -> OrgDependency:
        """Dependency factory: a member whose role is `minimum_role` or above."""
        return self._org_dependency(Requirement.minimum_role(minimum_role))

    def require_org_member_with_permission(self, permission: str) -> OrgDependency:
        """Dependency factory: a member holding `permission`."""
        return self._org_dependency(Requirement.permission(permission))

    def require_org_member_with_all_permissions(
        self, permissions: Collection[str]
    ) -> OrgDependency:
        """Dependency factory: a member holding every one of `permissions`."""
        return self._org_dependency(Requirement.all_permissions(permissions))

    def require(self, requirement: Requirement) -> OrgDependency:
        """Dependency factory for any `Requirement`."""
        if not isinstance(requirement, Requirement):
            raise TypeError("require() takes a tenantkit.web.Requirement")
        return self._org_dependency(requirement)

    async def tenant(self, connection: HTTPConnection) -> AsyncIterator[UserAndOrgMemberInfo]:
        """Dependency: a member of the requested org, with its `TenantContext` bound.

        Every tenantkit transaction the endpoint begins is bound to that org.
        Bound here, in the request's task, so sync endpoints (run in a thread
        with a copy of the context) see it too.
        """
        access, context = await self._bound_org(connection)
        if context is None:  # TenantMiddleware bound it already
            yield access
            return
        with tenant_context(context):
            yield access

    # --- internals -------------------------------------------------------------------

    async def _principal(self, connection: HTTPConnection, optional: bool) -> Principal | None:
        found = request_auth(connection.scope)
        if found is not None:
            if found.principal is None and not optional:
                raise Unauthorized("authentication required")
            return found.principal
        credentials = read_credentials(ScopeView(connection.scope), self.api_keys)
        return await authenticate_async(
            self.verifier, credentials, optional=optional, api_keys=self.api_keys
        )

    async def _authorize(
        self, connection: HTTPConnection, requirement: Requirement
    ) -> RequestAuth:
        principal = await self._principal(connection, False)
        found = request_auth(connection.scope)
        # The middleware's org (which it authorised and bound) is one more source
        # that must agree: never authorise one org and hand the endpoint another.
        also = () if found is None else ((_MIDDLEWARE, found.org_id),)
        org_id = self.org_id.resolve(ScopeView(connection.scope), principal, also=also)
        return authorize(principal, org_id, requirement)

    async def _bound_org(
        self, connection: HTTPConnection
    ) -> tuple[UserAndOrgMemberInfo, TenantContext | None]:
        """The member's access, and the context still to bind (None: already bound)."""
        auth = await _guard(self._authorize(connection, _MEMBER))
        access = auth.user_and_org()
        assert access is not None  # authorize() checked the org
        assert auth.context is not None
        if current_context() == auth.context:
            return access, None  # TenantMiddleware bound this very context already
        return access, auth.context

    def _org_dependency(self, requirement: Requirement) -> OrgDependency:
        async def dependency(connection: HTTPConnection) -> UserAndOrgMemberInfo:
            access = (await _guard(self._authorize(connection, requirement))).user_and_org()
            assert access is not None  # authorize() checked the org
            return access

        dependency.__name__ = f"require_{requirement.kind}"
        return dependency

    def _session_dependency(self) -> Callable[..., Awaitable[Session]]:
        async def session_scope(connection: HTTPConnection) -> AsyncIterator[Session]:
            if self.sessions is None:
                raise RuntimeError("TenantKit(sessions=...) is needed for tk.session")
            # Authorized before any session exists: a refused request takes no connection.
            _access, context = await self._bound_org(connection)
            # A sync endpoint waits for a pool connection on one of FastAPI's
            # threads. Were every thread so waiting, the requests holding the
            # connections could not get a thread to serialize their response and
            # commit: a deadlock until pool_timeout. So at most as many requests
            # as the pool has connections hold a sync session at once (the rest
            # wait here, on the event loop), and commits run on threads of their own.
            async with self._session_slots.acquire():
                with _binding(context):
                    session = self.sessions()
                    session.begin()  # no I/O: the connection is taken at the first statement
                    try:
                        yield session
                    except BaseException:
                        await _finish_in_thread(session, commit=False)
                        raise
                    await _finish_in_thread(session, commit=True)

        # Depends() in defaults, not Annotated: FastAPI resolves string annotations
        # in module globals, where these closures are not.
        # A plain function over a function-scoped generator: `Depends(tk.session)`
        # then commits when the endpoint returns, before the response is sent,
        # so a failed commit is an error response, not a lost write after a 200.
        async def session(
            session: Session = Depends(session_scope, scope="function"),  # noqa: B008
        ) -> Session:
            return session

        return session

    def _async_session_dependency(self) -> Callable[..., Awaitable[AsyncSession]]:
        async def async_session_scope(connection: HTTPConnection) -> AsyncIterator[AsyncSession]:
            if self.async_sessions is None:
                raise RuntimeError("TenantKit(async_sessions=...) is needed for tk.async_session")
            _access, context = await self._bound_org(connection)
            with _binding(context):
                async with self.async_sessions() as session, session.begin():
                    yield session

        async def async_session(
            session: AsyncSession = Depends(async_session_scope, scope="function"),  # noqa: B008
        ) -> AsyncSession:
            return session

        return async_session


def _refuse_key(principal: Principal) -> Principal:
    try:
        return authz.require_user(principal)
    except TenantkitError as error:
        raise TenantkitHTTPException(error) from None


def _binding(context: TenantContext | None) -> AbstractContextManager[object]:
    # The ContextVar is set in the request's task, so the endpoint (and a sync
    # endpoint's thread, which copies the context) sees it until this scope ends.
    return nullcontext() if context is None else tenant_context(context)


class _Slots:
    """A per-event-loop semaphore (asyncio's bind to the first loop that waits)."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._by_loop = weakref.WeakKeyDictionary()

    def acquire(self) -> AbstractAsyncContextManager[object]:
        if self._limit is None:
            return nullcontext()
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self._limit)
        return semaphore


def _pool_capacity(sessions: sessionmaker[Session] | None) -> int | None:
    """How many connections the sessions' engine can hand out at once (None: no bound)."""
    bind = None if sessions is None else sessions.kw.get("bind")
    pool = getattr(bind, "pool", None)
    if not isinstance(pool, QueuePool):
        return None
    overflow = pool._max_overflow  # -1: unbounded
    return None if overflow < 0 else pool.size() + overflow


_finishers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tenantkit-session")


async def _finish_in_thread(session: Session, *, commit: bool) -> None:
    call = functools.partial(copy_context().run, finish_session, session, commit=commit)
    await asyncio.get_running_loop().run_in_executor(_finishers, call)


async def _guard(check: Awaitable[R]) -> R:
    # Dependencies raise HTTPException so FastAPI answers even without init_app.
    try:
        return await check
    except TenantkitError as error:
        raise TenantkitHTTPException(error) from None


def _check_at_startup(
    app: FastAPI,
    sessions: sessionmaker[Session] | None,
    async_sessions: async_sessionmaker[AsyncSession] | None,
) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        engine = sessions.kw.get("bind") if sessions is not None else None
        if isinstance(engine, Engine):
            await asyncio.to_thread(check_engine, engine)
        async_engine = async_sessions.kw.get("bind") if async_sessions is not None else None
        if isinstance(async_engine, AsyncEngine):
            await check_async_engine(async_engine)
        async with inner(application) as state:
            yield state

    app.router.lifespan_context = lifespan


def _json_error(error: TenantkitError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TenantkitHTTPException)
    return _json_error(exc.error, exc.headers)


async def _handle_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TenantkitError)
    return _json_error(exc)


async def _handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    return _json_error(error_for(exc))
