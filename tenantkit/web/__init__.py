"""Web integration: bind the verified org to each request.

- `TenantMiddleware`: pure ASGI middleware (Starlette, FastAPI, any ASGI app);
- `tenantkit.web.fastapi`: FastAPI dependencies with PropelAuth's names and
  bound `Session` / `AsyncSession` dependencies (needs the `fastapi` extra);
- `tenantkit.web.flask`: a Flask extension, decorators and a bound session
  (needs the `flask` extra);
- `Requirement`s and org id extractors, shared by all three. Every org a request
  names (each extractor, the route's `org_id`, the middleware's) must be the
  same one, or it is refused with 400 before any database work.

This package imports no web framework; the framework modules do, on import.
"""

from tenantkit.web._auth import RequestAuth, authenticate, authorize, bearer_token
from tenantkit.web._extractors import (
    OrgIdExtractor,
    RequestView,
    active_org,
    header,
    org_from,
    path_param,
    query_param,
)
from tenantkit.web._requirements import Requirement, UserAndOrgMemberInfo
from tenantkit.web.api_keys import ApiKeyCredentials
from tenantkit.web.asgi import TenantMiddleware, request_auth

__all__ = [
    "ApiKeyCredentials",
    "OrgIdExtractor",
    "RequestAuth",
    "RequestView",
    "Requirement",
    "TenantMiddleware",
    "UserAndOrgMemberInfo",
    "active_org",
    "authenticate",
    "authorize",
    "bearer_token",
    "header",
    "org_from",
    "path_param",
    "query_param",
    "request_auth",
]
