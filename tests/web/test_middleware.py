"""TenantMiddleware beyond the matrix: scope types, extractors, options."""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.websockets import WebSocketDisconnect

from tenantkit import current_context
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.web import (
    Requirement,
    TenantMiddleware,
    active_org,
    header,
    path_param,
    query_param,
    request_auth,
)
from tenantkit.web._extractors import OrgIdExtractor
from tenantkit.web._types import Message, Receive, Scope, Send
from tests.web._support import bearer, build_app, mint, new_id

with warnings.catch_warnings():
    # Starlette asks for httpx2 for its TestClient; httpx is what this project has.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.nodb

ORG, OTHER = new_id(), new_id()
USER = new_id()


async def report(scope: Scope, receive: Receive, send: Send) -> None:
    ctx = current_context()
    auth = request_auth(scope)
    body = {
        "bound_org_id": None if ctx is None else ctx.org_id,
        "user_id": None if auth is None or auth.principal is None else auth.principal.user_id,
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def call(app: Any, path: str, headers: Any = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


@pytest.fixture
def token(token_issuer: TokenIssuer) -> str:
    return mint(token_issuer, USER, {ORG: "Member", OTHER: "Admin"})


async def test_lifespan_passes_through_untouched(token_verifier: TokenVerifier) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError("the middleware must not answer a lifespan scope")

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    snapshot = dict(scope)
    await TenantMiddleware(inner, verifier=token_verifier)(scope, receive, send)
    assert len(seen) == 1
    assert seen[0][0] is scope and seen[0][1] is receive and seen[0][2] is send
    assert scope == snapshot  # nothing added


async def test_websocket_without_token_is_closed_with_1008(token_verifier: TokenVerifier) -> None:
    called = False

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal called
        called = True

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "websocket",
        "path": f"/org/{ORG}/ws",
        "headers": [],
        "query_string": b"",
    }
    middleware = TenantMiddleware(
        inner, verifier=token_verifier, org_id=path_param("/org/{org_id}")
    )
    await middleware(scope, receive, send)
    assert not called
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "no authorization header"}]


def test_websocket_through_fastapi(token_verifier: TokenVerifier, token: str) -> None:
    client = TestClient(build_app(token_verifier))
    with pytest.raises(WebSocketDisconnect) as refused:  # noqa: SIM117
        with client.websocket_connect(f"/org/{ORG}/ws"):
            pass
    assert refused.value.code == 1008
    with pytest.raises(WebSocketDisconnect) as refused:  # noqa: SIM117
        with client.websocket_connect(f"/org/{new_id()}/ws", headers=bearer(token)):
            pass
    assert refused.value.code == 1008  # not a member
    with client.websocket_connect(f"/org/{ORG}/ws", headers=bearer(token)) as ws:
        assert ws.receive_json() == {"bound_org_id": ORG}


async def test_extractors(
    token_verifier: TokenVerifier, token_issuer: TokenIssuer, token: str
) -> None:
    cases: list[tuple[OrgIdExtractor, str, dict[str, str], str]] = [
        (header("X-Org-Id"), "/x", {"X-Org-Id": OTHER}, OTHER),
        (query_param("org"), f"/x?org={OTHER}", {}, OTHER),
        (path_param("/api/{version}/org/{org_id}"), f"/api/v2/org/{ORG}/notes", {}, ORG),
        (path_param("/org/{org_id}"), f"/org/{ORG.upper()}", {}, ORG),  # UUIDs are lowercased
    ]
    for extractor, path, extra, expected in cases:
        app = TenantMiddleware(report, verifier=token_verifier, org_id=extractor)
        response = await call(app, path, {**bearer(token), **extra})
        assert response.status_code == 200, (extractor, response.text)
        assert response.json()["bound_org_id"] == expected

    active = mint(token_issuer, USER, {OTHER: "Admin"}, active_org_id=OTHER)
    app = TenantMiddleware(report, verifier=token_verifier, org_id=active_org())
    assert (await call(app, "/x", bearer(active))).json()["bound_org_id"] == OTHER
    # A token listing several orgs names no active one: nothing is guessed.
    assert (await call(app, "/x", bearer(token))).json()["bound_org_id"] is None


async def test_path_template_matches_whole_segments(
    token_verifier: TokenVerifier, token: str
) -> None:
    app = TenantMiddleware(report, verifier=token_verifier, org_id=path_param("/org/{org_id}"))
    assert (await call(app, f"/orgs/{ORG}", bearer(token))).json()["bound_org_id"] is None
    # "/org/<id>x" is one segment, and not a UUID: refused, never cut down to <id>.
    response = await call(app, f"/org/{ORG}x", bearer(token))
    assert response.status_code == 400
    assert response.json()["fields"] == {"org_id": "path must be a UUID"}


async def test_ambiguous_org_id_is_400(token_verifier: TokenVerifier, token: str) -> None:
    app = TenantMiddleware(report, verifier=token_verifier, org_id=query_param("org_id"))
    response = await call(app, f"/x?org_id={ORG}&org_id={OTHER}", bearer(token))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_field"
    app = TenantMiddleware(report, verifier=token_verifier, org_id=header("X-Org-Id"))
    response = await call(
        app, "/x", [*bearer(token).items(), ("X-Org-Id", ORG), ("X-Org-Id", OTHER)]
    )
    assert response.status_code == 400


async def test_no_org_means_authenticated_but_unbound(
    token_verifier: TokenVerifier, token: str
) -> None:
    app = TenantMiddleware(report, verifier=token_verifier, org_id=path_param("/org/{org_id}"))
    body = (await call(app, "/me", bearer(token))).json()
    assert body == {"bound_org_id": None, "user_id": USER}
    assert (await call(app, "/me")).status_code == 401


async def test_requirement_without_org_is_403(token_verifier: TokenVerifier, token: str) -> None:
    app = TenantMiddleware(
        report, verifier=token_verifier, org_id=header(), require=Requirement.member()
    )
    response = await call(app, "/x", bearer(token))
    assert response.status_code == 403
    assert response.json()["message"] == "required org is unspecified"


async def test_optional_and_public_paths(token_verifier: TokenVerifier, token: str) -> None:
    app = TenantMiddleware(
        report,
        verifier=token_verifier,
        org_id=path_param("/org/{org_id}"),
        optional=True,
        public_paths=["/healthz"],
    )
    assert (await call(app, "/anything")).json() == {"bound_org_id": None, "user_id": None}
    # Optional means "no header is fine", never "a bad header is fine".
    assert (await call(app, "/anything", {"Authorization": "Bearer x.y.z"})).status_code == 401
    # An org still needs a member.
    assert (await call(app, f"/org/{ORG}/notes")).status_code == 401
    assert (await call(app, "/healthz", {"Authorization": "Bearer x.y.z"})).status_code == 200


async def test_route_level_middleware_reads_routed_path_params(
    token_verifier: TokenVerifier, token: str
) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        ctx = current_context()
        return JSONResponse({"bound_org_id": None if ctx is None else ctx.org_id})

    guarded = Middleware(TenantMiddleware, verifier=token_verifier, org_id=path_param())
    inner = Starlette(routes=[Route("/org/{org_id}/notes", endpoint, middleware=[guarded])])
    app = Starlette(routes=[Mount("/api", app=inner)])
    response = await call(app, f"/api/org/{OTHER}/notes", bearer(token))
    assert response.json() == {"bound_org_id": OTHER}


async def test_mounted_app_matches_template_below_the_mount(
    token_verifier: TokenVerifier, token: str
) -> None:
    guarded = TenantMiddleware(report, verifier=token_verifier, org_id=path_param("/org/{org_id}"))
    app = Starlette(routes=[Mount("/api", app=guarded)])
    response = await call(app, f"/api/org/{ORG}/notes", bearer(token))
    assert response.json()["bound_org_id"] == ORG


def test_constructor_refuses_misconfiguration(token_verifier: TokenVerifier) -> None:
    with pytest.raises(ValueError, match="exactly once"):
        path_param("/org/{id}")
    with pytest.raises(ValueError, match="start with"):
        path_param("org/{org_id}")
    with pytest.raises(TypeError):
        TenantMiddleware(report, verifier="not a verifier")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Requirement.exact_role("")
    with pytest.raises(TypeError):
        Requirement.all_permissions("notes:read")


def test_importing_tenantkit_web_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tenantkit.web, tenantkit.background; "
        "bad = [m for m in ('fastapi', 'starlette', 'flask', 'werkzeug') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
