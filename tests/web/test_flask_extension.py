"""The Flask extension beyond the matrix: user-only decorators, stacking, the session guard."""

from __future__ import annotations

import pytest
from flask import Flask

from tenantkit import current_context
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.web.flask import TenantKit, current_org, current_user
from tests.web._support import bearer, mint, new_id

pytestmark = pytest.mark.nodb

ORG, USER = new_id(), new_id()


@pytest.fixture
def app(token_verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)
    tk = TenantKit(app, verifier=token_verifier)

    @app.get("/me")
    @tk.require_user
    def me() -> dict[str, object]:
        user = current_user()
        return {"user_id": None if user is None else user.user_id}

    @app.get("/maybe")
    @tk.optional_user
    def maybe() -> dict[str, object]:
        user = current_user()
        return {"user_id": None if user is None else user.user_id}

    @app.get("/org/<org_id>/stacked")
    @tk.require_org_member()
    @tk.require_user
    @tk.require_org_member_with_minimum_role("Admin")
    def stacked(org_id: str) -> dict[str, object]:
        ctx, access = current_context(), current_org()
        return {
            "bound_org_id": None if ctx is None else ctx.org_id,
            "role": None if access is None else access.org_member_info.user_role,
        }

    @app.get("/unguarded")
    def unguarded() -> str:
        tk.session()
        return "unreachable"

    return app


def test_require_user(app: Flask, token_issuer: TokenIssuer) -> None:
    client = app.test_client()
    token = mint(token_issuer, USER, {})
    assert client.get("/me", headers=bearer(token)).get_json() == {"user_id": USER}
    response = client.get("/me")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_optional_user(app: Flask, token_issuer: TokenIssuer) -> None:
    client = app.test_client()
    assert client.get("/maybe").get_json() == {"user_id": None}
    assert client.get("/maybe", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


def test_stacked_decorators_keep_the_org_bound(app: Flask, token_issuer: TokenIssuer) -> None:
    client = app.test_client()
    admin = mint(token_issuer, USER, {ORG: "Admin"})
    body = client.get(f"/org/{ORG}/stacked", headers=bearer(admin)).get_json()
    assert body == {"bound_org_id": ORG, "role": "Admin"}
    member = mint(token_issuer, USER, {ORG: "Member"})
    assert client.get(f"/org/{ORG}/stacked", headers=bearer(member)).status_code == 403


def test_session_outside_a_decorated_view_is_refused(app: Flask) -> None:
    app.testing = True
    with pytest.raises(RuntimeError, match="decorated"):
        app.test_client().get("/unguarded")


async def test_fastapi_user_dependencies(
    token_verifier: TokenVerifier, token_issuer: TokenIssuer
) -> None:
    import httpx

    from tests.web._support import build_app

    for middleware in (True, False):
        app = build_app(token_verifier, middleware=middleware)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            token = mint(token_issuer, USER, {ORG: "Member"})
            response = await client.get("/me", headers=bearer(token))
            assert response.json() == {"user_id": USER, "bound": False}
            assert (await client.get("/me")).status_code == 401
            assert (await client.get("/healthz")).status_code == 200  # public either way
