"""The 401/403 matrix for every requirement type: ASGI middleware, FastAPI, Flask.

No database: a refused request must be refused before any, and an allowed one
must come with the requested org bound.
"""

from __future__ import annotations

import json

import httpx
import pytest
from flask import Flask

from tenantkit import current_context
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.web import TenantMiddleware, path_param
from tenantkit.web._types import Receive, Scope, Send
from tenantkit.web.flask import TenantKit as FlaskTenantKit
from tenantkit.web.flask import current_org
from tests.web._matrix import CASE_IDS, CASES, ORG, Caller, expected_status
from tests.web._support import REQUIREMENTS, build_app

pytestmark = pytest.mark.nodb


async def bound_org_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app (no framework) reporting the bound org."""
    ctx = current_context()
    body = json.dumps({"bound_org_id": None if ctx is None else ctx.org_id}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def check(status: int, body: dict[str, object], expected: int) -> None:
    assert status == expected, body
    if expected == 200:
        assert body.get("bound_org_id") == ORG
    else:
        assert body["error"] == {401: "unauthorized", 403: "forbidden"}[expected]
        assert isinstance(body["message"], str)


@pytest.mark.parametrize(("requirement", "caller"), CASES, ids=CASE_IDS)
async def test_asgi_middleware(
    requirement: str, caller: Caller, token_issuer: TokenIssuer, token_verifier: TokenVerifier
) -> None:
    app = TenantMiddleware(
        bound_org_app,
        verifier=token_verifier,
        org_id=path_param("/org/{org_id}"),
        require=REQUIREMENTS[requirement][0],
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get(f"/org/{ORG}/anything", headers=caller.headers(token_issuer))
    check(response.status_code, response.json(), expected_status(requirement, caller))


@pytest.mark.parametrize("middleware", [True, False], ids=["with-middleware", "dependencies-only"])
@pytest.mark.parametrize(("requirement", "caller"), CASES, ids=CASE_IDS)
async def test_fastapi_dependencies(
    requirement: str,
    caller: Caller,
    middleware: bool,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    app = build_app(token_verifier, middleware=middleware)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get(
            f"/org/{ORG}/{requirement}", headers=caller.headers(token_issuer)
        )
    expected = expected_status(requirement, caller)
    body = response.json()
    if middleware and expected == 200:
        # TenantMiddleware bound the org before the route ran.
        check(response.status_code, body, expected)
    else:
        assert response.status_code == expected, body
        if expected == 200:
            assert body["org_id"] == ORG
        else:
            assert body["error"] == {401: "unauthorized", 403: "forbidden"}[expected]


def flask_app(verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)
    tk = FlaskTenantKit(app, verifier=verifier)
    for name, (requirement, _) in REQUIREMENTS.items():

        @tk.require(requirement)
        def view(org_id: str) -> dict[str, object]:
            ctx = current_context()
            access = current_org()
            assert access is not None
            return {
                "bound_org_id": None if ctx is None else ctx.org_id,
                "role": access.org_member_info.user_role,
            }

        app.add_url_rule(f"/org/<org_id>/{name}", endpoint=name, view_func=view)
    return app


@pytest.mark.parametrize(("requirement", "caller"), CASES, ids=CASE_IDS)
def test_flask_decorators(
    requirement: str, caller: Caller, token_issuer: TokenIssuer, token_verifier: TokenVerifier
) -> None:
    client = flask_app(token_verifier).test_client()
    response = client.get(f"/org/{ORG}/{requirement}", headers=caller.headers(token_issuer))
    assert response.is_json
    body = response.get_json()
    assert isinstance(body, dict)
    check(response.status_code, body, expected_status(requirement, caller))
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
