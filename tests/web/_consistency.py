"""Apps for the org-consistency matrix: one handler per adapter, each reporting
the org it was authorised for, the org bound to its transactions, the rows it
can read, and the org its route names.

Routes: `/t/{t}/r/{org_id}/<kind>` (a routed `org_id`) and `/t/{t}/s/{s}/<kind>`
(none). `t` is where the `/t/{org_id}` template reads.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint signatures.

from typing import Any

from fastapi import Depends, FastAPI
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantkit import current_context
from tenantkit.tokens import TokenVerifier
from tenantkit.web import (
    TenantMiddleware,
    UserAndOrgMemberInfo,
    active_org,
    header,
    path_param,
    query_param,
)
from tenantkit.web._extractors import OrgIdExtractor, OrgIdSources
from tenantkit.web._types import ASGIApp
from tenantkit.web.fastapi import TenantKit
from tenantkit.web.flask import TenantKit as FlaskTenantKit
from tenantkit.web.flask import current_org

#: The five places a request can name its org.
EXTRACTORS: dict[str, OrgIdExtractor] = {
    "template": path_param("/t/{org_id}"),
    "routed": path_param(),
    "header": header("X-Org-Id"),
    "query": query_param("org_id"),
    "active": active_org(),
}
PREFIXES = ("/t/{t}/r/{org_id}", "/t/{t}/s/{s}")
FASTAPI_KINDS = ("require", "tenant", "session", "async_session")
_ORGS = "SELECT DISTINCT org_id::text FROM public.notes ORDER BY 1"


def _bound() -> str | None:
    ctx = current_context()
    return None if ctx is None else ctx.org_id


def _rows(session: Session) -> list[str]:
    return list(session.execute(text(_ORGS)).scalars())


def report(
    *, authorised: str | None, rows: list[str] | None, route_org: Any
) -> dict[str, Any]:
    return {
        "authorised": authorised,
        "bound": _bound(),
        "rows": rows,
        "route_org": None if route_org is None else str(route_org),
    }


def starlette_app(
    verifier: TokenVerifier, engine: Engine, org_id: OrgIdSources, *, route_level: bool
) -> ASGIApp:
    """A bare Starlette app; TenantMiddleware app-wide, or on each route."""

    async def endpoint(request: Request) -> JSONResponse:
        with Session(engine) as session:
            rows = _rows(session)
        return JSONResponse(
            report(authorised=None, rows=rows, route_org=request.path_params.get("org_id"))
        )

    guard = [Middleware(TenantMiddleware, verifier=verifier, org_id=org_id)]
    routes = [
        Route(f"{prefix}/notes", endpoint, middleware=guard if route_level else None)
        for prefix in PREFIXES
    ]
    app = Starlette(routes=routes)
    return app if route_level else TenantMiddleware(app, verifier=verifier, org_id=org_id)


def fastapi_app(
    verifier: TokenVerifier,
    sessions: sessionmaker[Session],
    async_sessions: async_sessionmaker[AsyncSession],
    *,
    middleware_org_id: OrgIdSources | None,
    org_id: OrgIdSources,
) -> FastAPI:
    """Each dependency kind on both prefixes; TenantMiddleware in front when asked."""
    app = FastAPI()
    tk = TenantKit(verifier, sessions=sessions, async_sessions=async_sessions, org_id=org_id)
    tk.init_app(app)
    member = tk.require_org_member()

    def require(
        connection: HTTPConnection,
        access: UserAndOrgMemberInfo = Depends(member),  # noqa: B008
    ) -> dict[str, Any]:
        return report(
            authorised=access.org_id, rows=None, route_org=connection.path_params.get("org_id")
        )

    def tenant(
        connection: HTTPConnection,
        access: UserAndOrgMemberInfo = Depends(tk.tenant),  # noqa: B008
    ) -> dict[str, Any]:
        with sessions() as session:
            rows = _rows(session)
        return report(
            authorised=access.org_id, rows=rows, route_org=connection.path_params.get("org_id")
        )

    def session(
        connection: HTTPConnection,
        session: Session = Depends(tk.session),  # noqa: B008
    ) -> dict[str, Any]:
        return report(
            authorised=None, rows=_rows(session), route_org=connection.path_params.get("org_id")
        )

    async def async_session(
        connection: HTTPConnection,
        session: AsyncSession = Depends(tk.async_session),  # noqa: B008
    ) -> dict[str, Any]:
        rows = list((await session.execute(text(_ORGS))).scalars())
        return report(authorised=None, rows=rows, route_org=connection.path_params.get("org_id"))

    for prefix in PREFIXES:
        for endpoint in (require, tenant, session, async_session):
            app.add_api_route(f"{prefix}/{endpoint.__name__}", endpoint, methods=["GET"])
    if middleware_org_id is not None:
        app.add_middleware(TenantMiddleware, verifier=verifier, org_id=middleware_org_id)
    return app


def flask_app(verifier: TokenVerifier, engine: Engine, org_id: OrgIdSources) -> Flask:
    """One decorated view on both prefixes; it reads its rows through `tk.session()`."""
    app = Flask(__name__)
    tk = FlaskTenantKit(verifier=verifier, sessions=sessionmaker(engine), org_id=org_id)
    # The startup check would take a connection; these tests count the requests' checkouts.
    tk.init_app(app, check_database=False)

    @tk.require_org_member()
    def notes(**view_args: str) -> dict[str, Any]:
        access = current_org()
        return report(
            authorised=None if access is None else access.org_id,
            rows=_rows(tk.session()),
            route_org=view_args.get("org_id"),
        )

    app.add_url_rule("/t/<t>/r/<org_id>/notes", endpoint="routed", view_func=notes)
    app.add_url_rule("/t/<t>/s/<s>/notes", endpoint="unrouted", view_func=notes)
    return app
