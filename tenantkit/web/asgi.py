"""`TenantMiddleware`: pure ASGI middleware binding the verified org for each request.

    app = TenantMiddleware(app, verifier=verifier, org_id=path_param("/org/{org_id}"))

For each HTTP or websocket scope it verifies the bearer token, resolves the org
the request names, checks the requirement, and binds the `TenantContext` while
the app runs, so every transaction a tenantkit engine begins in the handler is
bound to that org. It subclasses nothing and imports no framework (Starlette,
FastAPI or any ASGI app). Other scope types (lifespan) pass through untouched.

Refusals are answered here, before the app runs, so a bad token never reaches a
handler, a database session or a pool connection:
- HTTP: a JSON body `{"error": ..., "message": ...}` with 401 (and
  `WWW-Authenticate: Bearer`), 403, or 400 for an org id that is repeated, not
  a UUID, or named differently by two sources (see `tenantkit.web._extractors`);
- websocket: `websocket.close` with code 1008 (policy violation) in answer to
  the connect, before any accept (servers answer the handshake with 403).

The outcome is left in `scope["tenantkit.auth"]` (a `RequestAuth`); read it with
`request_auth(scope)`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from urllib.parse import parse_qsl

from tenantkit.context import tenant_context
from tenantkit.errors import TenantkitError
from tenantkit.tokens import Verifier
from tenantkit.web._auth import SCOPE_KEY, RequestAuth, authenticate_async, authorize
from tenantkit.web._extractors import Ambiguous, OrgFrom, OrgIdSources, sources_with_route
from tenantkit.web._requirements import Requirement
from tenantkit.web._types import ASGIApp, Receive, Scope, Send
from tenantkit.web.api_keys import ApiKeyCredentials, read_credentials

__all__ = [
    "WS_POLICY_VIOLATION",
    "ScopeView",
    "TenantMiddleware",
    "error_body",
    "error_headers",
    "request_auth",
]

#: RFC 6455 section 7.4.1 "policy violation": the close code of a refused websocket.
WS_POLICY_VIOLATION = 1008


class ScopeView:
    """A `RequestView` over an ASGI scope; headers and query are parsed only when read."""

    __slots__ = ("_query", "_scope")

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._query: list[tuple[str, str]] | None = None

    @property
    def path(self) -> str:
        # The path the app routes on: a mount's root_path prefix is not part of it.
        path: str = self._scope["path"]
        root = self._scope.get("root_path", "")
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
            return path[len(root) :] or "/"
        return path

    def path_param(self, name: str) -> str | None:
        params = self._scope.get("path_params")
        value = params.get(name) if params else None
        return None if value is None else str(value)

    def header(self, name: str) -> str | None:
        return _single(self._scope["headers"], name.encode("latin-1"))

    def query_param(self, name: str) -> str | None:
        if self._query is None:
            raw: bytes = self._scope.get("query_string", b"")
            self._query = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        found = [value for key, value in self._query if key == name]
        if len(found) > 1:
            raise Ambiguous(name)
        return found[0] if found else None


def _single(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    found: bytes | None = None
    for key, value in headers:
        if key.lower() == name:
            if found is not None:
                raise Ambiguous(name.decode("latin-1"))
            found = value
    return None if found is None else found.decode("latin-1")


def request_auth(scope: Scope) -> RequestAuth | None:
    """The `RequestAuth` the middleware left in `scope`, if it ran."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, RequestAuth) else None


class TenantMiddleware:
    """Verify the token, check the org requirement, bind the `TenantContext`.

    verifier: a `Verifier`: the `TokenVerifier` (share one; its cache makes repeat
        tokens cheap), a `tenantkit.identity.ResolvingVerifier` around one, or any
        object with `verify` and `verify_async`.
    org_id: where requests name their org (see `tenantkit.web._extractors`): one
        extractor, or a list of them that must agree. When the scope is already
        routed (route-level middleware), the routed `org_id` parameter must
        agree too. None: no org is resolved and nothing is bound.
    require: a `Requirement` checked in that org. Without one, a request naming
        an org must be a member of it and a request naming none is only
        authenticated; with one, a request naming no org is refused (403).
    optional: let requests without an Authorization header through anonymously
        (no principal, nothing bound); a present but bad header is still 401.
    public_paths: exact paths served without any check (health probes).
    api_keys: accept org API keys too (`ApiKeyCredentials`: the verifier, the
        header and/or bearer). A key binds its own org with a key principal
        (`TenantContext.for_api_key`); a request naming another org is 403.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: Verifier,
        org_id: OrgIdSources | None = None,
        require: Requirement | None = None,
        optional: bool = False,
        public_paths: Collection[str] = (),
        api_keys: ApiKeyCredentials | None = None,
    ) -> None:
        if api_keys is not None and not isinstance(api_keys, ApiKeyCredentials):
            raise TypeError("api_keys must be a tenantkit.web.ApiKeyCredentials")
        if not isinstance(verifier, Verifier):
            raise TypeError("verifier must be a tenantkit.tokens.Verifier (verify, verify_async)")
        if require is not None and not isinstance(require, Requirement):
            raise TypeError("require must be a tenantkit.web.Requirement")
        self.app = app
        self.verifier = verifier
        self.org_id: OrgFrom | None = None if org_id is None else sources_with_route(org_id)
        self.require = require
        self.optional = optional
        self.public_paths = frozenset(public_paths)
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        view = ScopeView(scope)
        if self.public_paths and view.path in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            auth = await self._check(view, request_auth(scope))
        except TenantkitError as error:
            if kind == "http":
                await _send_error(send, error)
            else:
                await _refuse_websocket(receive, send, error)
            return
        scope[SCOPE_KEY] = auth
        if auth.context is None:
            await self.app(scope, receive, send)
            return
        with tenant_context(auth.context):
            await self.app(scope, receive, send)

    async def _check(self, view: ScopeView, outer: RequestAuth | None) -> RequestAuth:
        credentials = read_credentials(view, self.api_keys)
        principal = await authenticate_async(
            self.verifier, credentials, optional=self.optional, api_keys=self.api_keys
        )
        org_id = None
        if self.org_id is not None:
            # An enclosing TenantMiddleware's org (app-wide, with this one per route)
            # is one more source that must agree.
            also = () if outer is None else (("an enclosing TenantMiddleware", outer.org_id),)
            org_id = self.org_id.resolve(view, principal, also=also)
        return authorize(principal, org_id, self.require)


def error_body(error: TenantkitError) -> bytes:
    """The JSON body tenantkit's web adapters send for a refused request."""
    return json.dumps(error.to_dict(), separators=(",", ":")).encode()


def error_headers(error: TenantkitError) -> list[tuple[bytes, bytes]]:
    """The headers of that response (RFC 6750's challenge on a 401)."""
    headers = [(b"content-type", b"application/json")]
    if error.status_code == 401:
        headers.append((b"www-authenticate", b'Bearer error="invalid_token"'))
    return headers


async def _send_error(send: Send, error: TenantkitError) -> None:
    body = error_body(error)
    headers = [*error_headers(error), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(receive: Receive, send: Send, error: TenantkitError) -> None:
    # The first message of a websocket scope is websocket.connect; answering it
    # with a close refuses the handshake before anything is accepted.
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client went away first
    await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": error.message})
