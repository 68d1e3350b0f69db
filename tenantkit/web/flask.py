"""The Flask extension: PropelAuth-named decorators and a session bound to the request's org.

    tk = TenantKit(app, verifier=verifier, sessions=sessionmaker(engine))

    @app.get("/org/<org_id>/is-admin")
    @tk.require_org_member_with_exact_role("Admin")
    def is_admin(org_id: str) -> dict[str, bool]:
        return {"is_admin": True}

    @app.get("/org/<org_id>/notes")
    @tk.require_org_member()
    def notes(org_id: str) -> list[str]:
        return list(tk.session().scalars(select(Note.body)))

Decorators (401 without a valid token, 403 when not allowed, JSON bodies as the
ASGI middleware sends): `require_user`, `optional_user`, `require_org_member()`,
`..._with_exact_role(role)`, `..._with_minimum_role(role)`, `..._with_permission(p)`,
`..._with_all_permissions(ps)`. The org comes from the view's `org_id` argument
unless `org_id=` names other extractors; every org the request names must be
the same one, or it is refused with 400 before the view runs: each of
`org_id=`'s, the routed `org_id`, the view's `org_id` argument, and an
enclosing decorator's org. An org decorator binds the `TenantContext` (of the
org it checked) while the view runs.

`tk.session()` is the request's `Session`, opened on first use: committed when
the outermost tenantkit decorator's view returns (before the response is
built) and rolled back when it raises. `current_user()` and `current_org()`
read what the decorators checked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from flask import Flask, Response, g, request
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import abort

from tenantkit import authz
from tenantkit.context import tenant_context
from tenantkit.errors import TenantkitError
from tenantkit.startup import check_engine
from tenantkit.tokens import Principal, Verifier
from tenantkit.web._auth import RequestAuth, authenticate, authorize
from tenantkit.web._database_errors import error_for
from tenantkit.web._extractors import (
    Ambiguous,
    OrgFrom,
    OrgIdSources,
    path_param,
    sources_with_route,
)
from tenantkit.web._requirements import Requirement, UserAndOrgMemberInfo
from tenantkit.web._sessions import finish_session
from tenantkit.web.api_keys import ApiKeyCredentials, read_credentials
from tenantkit.web.asgi import error_body, error_headers

__all__ = ["FlaskRequestView", "TenantKit", "current_auth", "current_org", "current_user"]

P = ParamSpec("P")
R = TypeVar("R")
Decorator = Callable[[Callable[P, R]], Callable[P, R]]

_AUTH = "tenantkit_auth"
_SESSION = "tenantkit_session"
_DEPTH = "tenantkit_depth"
_MEMBER = Requirement.member()


class FlaskRequestView:
    """A `RequestView` over the current Flask request."""

    __slots__ = ()

    @property
    def path(self) -> str:
        return request.path

    def path_param(self, name: str) -> str | None:
        value = (request.view_args or {}).get(name)
        return None if value is None else str(value)

    def header(self, name: str) -> str | None:
        values = request.headers.getlist(name)
        if len(values) > 1:
            raise Ambiguous(name)
        return values[0] if values else None

    def query_param(self, name: str) -> str | None:
        values = request.args.getlist(name)
        if len(values) > 1:
            raise Ambiguous(name)
        return values[0] if values else None


_VIEW = FlaskRequestView()


class TenantKit:
    """tenantkit's Flask extension (`TenantKit(app, ...)` or `init_app(app)` later).

    api_keys: accept org API keys too (`tenantkit.web.ApiKeyCredentials`): the
        org decorators then admit a key of the requested org (role checks refuse
        it, 403), and `require_user` / `optional_user` refuse one (403).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        verifier: Verifier,
        sessions: sessionmaker[Session] | None = None,
        org_id: OrgIdSources | None = None,
        api_keys: ApiKeyCredentials | None = None,
    ) -> None:
        self.verifier = verifier
        self.api_keys = api_keys
        self.sessions = sessions
        self.org_id: OrgFrom = sources_with_route(org_id if org_id is not None else path_param())
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, check_database: bool = True) -> None:
        """Register the extension; answer database errors as JSON; check the engine now.

        Database errors a view lets through are answered like FastAPI's
        (`tenantkit.web._database_errors`: 409/404 naming the constraint, 403
        for a policy, 500 for a missing GRANT, each logged). With
        `check_database`, `check_engine` runs on the sessions' engine here (Flask
        has no startup hook): an unsafe role or a schema behind head stops the app.
        """
        app.extensions["tenantkit"] = self
        app.teardown_request(_close_leftover_session)
        app.register_error_handler(DBAPIError, _database_error_response)
        engine = self.sessions.kw.get("bind") if self.sessions is not None else None
        if check_database and isinstance(engine, Engine):
            check_engine(engine)

    # --- decorators ------------------------------------------------------------------

    def require_user(self, view: Callable[P, R]) -> Callable[P, R]:
        """Decorator: a verified principal is required (401 otherwise)."""
        return self._guard(view, optional=False, requirement=None)

    def optional_user(self, view: Callable[P, R]) -> Callable[P, R]:
        """Decorator: the principal if an Authorization header is sent (a bad one is 401)."""
        return self._guard(view, optional=True, requirement=None)

    def require_org_member(self) -> Decorator[..., Any]:
        """Decorator factory: any member of the requested org."""
        return self.require(_MEMBER)

    def require_org_member_with_exact_role(self, role: str) -> Decorator[..., Any]:
        return self.require(Requirement.exact_role(role))

    def require_org_member_with_minimum_role(self, minimum_role: str) -> Decorator[..., Any]:
        return self.require(Requirement.minimum_role(minimum_role))

    def require_org_member_with_permission(self, permission: str) -> Decorator[..., Any]:
        return self.require(Requirement.permission(permission))

    def require_org_member_with_all_permissions(
        self, permissions: Collection[str]
    ) -> Decorator[..., Any]:
        return self.require(Requirement.all_permissions(permissions))

    def require(self, requirement: Requirement) -> Decorator[..., Any]:
        """Decorator factory for any `Requirement`; binds the org while the view runs."""
        if not isinstance(requirement, Requirement):
            raise TypeError("require() takes a tenantkit.web.Requirement")

        def decorate(view: Callable[P, R]) -> Callable[P, R]:
            return self._guard(view, optional=False, requirement=requirement)

        return decorate

    # --- the session -----------------------------------------------------------------

    def session(self) -> Session:
        """This request's `Session` (bound when an org decorator runs), opened on first use."""
        if g.get(_DEPTH, 0) == 0:
            raise RuntimeError(
                "tk.session() is for views decorated with a tenantkit decorator, "
                "which commits or rolls it back"
            )
        session: Session | None = g.get(_SESSION)
        if session is None:
            if self.sessions is None:
                raise RuntimeError("TenantKit(sessions=...) is needed for tk.session()")
            session = self.sessions()
            session.begin()
            setattr(g, _SESSION, session)
        return session

    # --- internals -------------------------------------------------------------------

    def _guard(
        self, view: Callable[P, R], *, optional: bool, requirement: Requirement | None
    ) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                auth = self._check(optional=optional, requirement=requirement, view_args=kwargs)
            except TenantkitError as error:
                abort(_error_response(error))
            if auth.context is None:
                # Authentication only: an enclosing org decorator's binding stays.
                setattr(g, _AUTH, g.get(_AUTH) or auth)
                with _unit_of_work():
                    return view(*args, **kwargs)
            setattr(g, _AUTH, auth)
            with _unit_of_work(), tenant_context(auth.context):
                return view(*args, **kwargs)

        return guarded

    def _check(
        self, *, optional: bool, requirement: Requirement | None, view_args: dict[str, Any]
    ) -> RequestAuth:
        credentials = read_credentials(_VIEW, self.api_keys)
        principal = authenticate(
            self.verifier, credentials, optional=optional, api_keys=self.api_keys
        )
        if requirement is None:
            # require_user / optional_user: a user's routes, never a key's.
            return RequestAuth(None if principal is None else authz.require_user(principal))
        also: list[tuple[str, str | None]] = []
        previous: RequestAuth | None = g.get(_AUTH)
        if previous is not None:
            also.append(("an enclosing tenantkit decorator", previous.org_id))
        if "org_id" in view_args:
            # What the view will be handed, whatever rewrote it on the way.
            value = view_args["org_id"]
            also.append(("the view's org_id argument", None if value is None else str(value)))
        return authorize(principal, self.org_id.resolve(_VIEW, principal, also=also), requirement)


def _database_error_response(exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    return _error_response(error_for(exc))


def _error_response(error: TenantkitError) -> Response:
    headers = [(k.decode(), v.decode()) for k, v in error_headers(error)]
    return Response(error_body(error), status=error.status_code, headers=headers)


@contextmanager
def _unit_of_work() -> Iterator[None]:
    # Re-entrant: stacked decorators share one session; the outermost finishes it.
    depth: int = g.get(_DEPTH, 0)
    setattr(g, _DEPTH, depth + 1)
    try:
        yield
    except BaseException:
        if depth == 0:
            _finish_session(commit=False)
        raise
    else:
        if depth == 0:
            _finish_session(commit=True)
    finally:
        setattr(g, _DEPTH, depth)


def _finish_session(*, commit: bool) -> None:
    session: Session | None = g.pop(_SESSION, None)
    if session is not None:
        finish_session(session, commit=commit)


def _close_leftover_session(exc: BaseException | None) -> None:
    # Safety net: a session a decorator did not finish is rolled back, never committed.
    session: Session | None = g.pop(_SESSION, None)
    if session is not None:
        session.close()


def current_auth() -> RequestAuth | None:
    """What the tenantkit decorators checked for this request, if any ran."""
    found = g.get(_AUTH)
    return found if isinstance(found, RequestAuth) else None


def current_user() -> Principal | None:
    """The verified principal of this request, if a tenantkit decorator ran."""
    auth = current_auth()
    return None if auth is None else auth.principal


def current_org() -> UserAndOrgMemberInfo | None:
    """The principal and their membership, when an org decorator ran."""
    auth = current_auth()
    return None if auth is None else auth.user_and_org()
