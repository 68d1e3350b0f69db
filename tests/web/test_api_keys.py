"""Org API keys as request credentials: the ASGI middleware, FastAPI's dependencies, Flask.

Against real rows of two seeded tenants (tests/key_tables.py):
- a key (header or bearer) reads its org's rows and none of another's;
- a key of org B naming org A is 403; unknown or archived keys are 401;
- an archived key stops at the next transaction even inside an authenticated request;
- `require_*`: member and permission checks take a key; role checks and
  `require_user` refuse it with `api_key_refused` (403);
- one credential per request; tokens work beside keys.
"""

# No `from __future__ import annotations`: FastAPI reads the Depends(...) defaults.

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import current_context
from tenantkit.orgs import Actor, Management, OrgApiKeyVerifier
from tenantkit.tokens import ApiKeyPrincipal, TokenIssuer, TokenVerifier
from tenantkit.web import ApiKeyCredentials, TenantMiddleware, UserAndOrgMemberInfo, path_param
from tenantkit.web.fastapi import TenantKit
from tenantkit.web.flask import TenantKit as FlaskTenantKit
from tenantkit.web.flask import current_org
from tests.key_tables import ROWS, Key, OrgKeys, new_key
from tests.web._support import bearer, mint

ITEMS = sa.text("SELECT org_id::text FROM public.key_items")


def _key(key: Key, how: str) -> dict[str, str]:
    return {"x-api-key": key.secret} if how == "header" else bearer(key.secret)


def build_fastapi(
    verifier: TokenVerifier,
    keys: OrgApiKeyVerifier,
    sessions: "sessionmaker[Session]",
    app_engine: sa.Engine,
    service_engine: sa.Engine,
    *,
    middleware: bool,
) -> object:
    credentials = ApiKeyCredentials(keys)
    tk = TenantKit(verifier, sessions=sessions, api_keys=None if middleware else credentials)
    app = FastAPI()
    tk.init_app(app, check_database=False)

    @app.get("/org/{org_id}/items")
    def items(session: Session = Depends(tk.session)) -> list[str]:  # noqa: B008
        return list(session.execute(ITEMS).scalars())

    can_write = tk.require_org_member_with_permission("items:write")
    is_admin = tk.require_org_member_with_minimum_role("Admin")

    @app.get("/org/{org_id}/write")
    def write(
        access: UserAndOrgMemberInfo = Depends(can_write),  # noqa: B008
    ) -> dict[str, object]:
        return {"permissions": list(access.org_member_info.user_permissions)}

    @app.get("/org/{org_id}/admin")
    def admin(
        access: UserAndOrgMemberInfo = Depends(is_admin),  # noqa: B008
    ) -> dict[str, bool]:
        return {"admin": True}

    @app.get("/me")
    def me(user: object = Depends(tk.require_user)) -> dict[str, bool]:
        return {"user": True}

    @app.get("/org/{org_id}/archive-between")
    def archive_between(
        access: UserAndOrgMemberInfo = Depends(tk.tenant),  # noqa: B008
    ) -> dict[str, object]:
        # One authenticated request, two transactions, the key archived in between.
        ctx = current_context()
        assert ctx is not None and ctx.api_key_id is not None
        with app_engine.connect() as conn:
            before = len(conn.execute(ITEMS).all())
        with service_engine.begin() as svc:
            Management(svc, Actor.service()).api_keys.archive(ctx.api_key_id)
        with app_engine.connect() as conn:
            after = len(conn.execute(ITEMS).all())
        return {"before": before, "after": after, "key": isinstance(access.user, ApiKeyPrincipal)}

    if not middleware:
        return app
    return TenantMiddleware(app, verifier=verifier, org_id=path_param("/org/{org_id}"),
                            api_keys=credentials)


@pytest.fixture
def key_verifier(service_engine: sa.Engine) -> OrgApiKeyVerifier:
    return OrgApiKeyVerifier(service_engine, cache_seconds=0)


@pytest.fixture(params=["middleware", "dependencies"])
async def client(
    request: pytest.FixtureRequest,
    org_keys: OrgKeys,
    token_verifier: TokenVerifier,
    key_verifier: OrgApiKeyVerifier,
    app_sessions: "sessionmaker[Session]",
    app_engine: sa.Engine,
    service_engine: sa.Engine,
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_fastapi(token_verifier, key_verifier, app_sessions, app_engine, service_engine,
                        middleware=request.param == "middleware")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("how", ["header", "bearer"])
async def test_a_key_reads_its_orgs_rows_only(
    client: httpx.AsyncClient, org_keys: OrgKeys, how: str
) -> None:
    a, b = org_keys.orgs.a, org_keys.orgs.b
    response = await client.get(f"/org/{a.org_id}/items", headers=_key(org_keys.a_writer, how))
    assert response.status_code == 200, response.text
    assert response.json() == [a.org_id] * ROWS
    response = await client.get(f"/org/{b.org_id}/items", headers=_key(org_keys.b_writer, how))
    assert response.json() == [b.org_id] * ROWS


@pytest.mark.parametrize("how", ["header", "bearer"])
async def test_a_key_of_another_org_naming_a_is_refused(
    client: httpx.AsyncClient, org_keys: OrgKeys, how: str
) -> None:
    a = org_keys.orgs.a
    response = await client.get(f"/org/{a.org_id}/items", headers=_key(org_keys.b_writer, how))
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden",
                               "message": "this API key belongs to another org"}


async def test_unknown_archived_and_doubled_credentials_are_401(
    client: httpx.AsyncClient, org_keys: OrgKeys, service_engine: sa.Engine,
    token_issuer: TokenIssuer,
) -> None:
    a = org_keys.orgs.a
    path = f"/org/{a.org_id}/items"
    unknown = {"x-api-key": "tk_org_" + "x" * 43}
    assert (await client.get(path, headers=unknown)).status_code == 401
    assert (await client.get(path, headers=bearer("tk_org_nope"))).status_code == 401
    key = new_key(service_engine, a.org_id)
    assert (await client.get(path, headers=_key(key, "header"))).status_code == 200
    with service_engine.begin() as svc:
        Management(svc, Actor.service()).api_keys.archive(key.api_key_id)
    assert (await client.get(path, headers=_key(key, "header"))).status_code == 401
    # Never guess between two credentials.
    token = mint(token_issuer, a.member_id, {a.org_id: "Member"})
    both = {**bearer(token), "x-api-key": org_keys.a_writer.secret}
    response = await client.get(path, headers=both)
    assert response.status_code == 401 and "one credential" in response.json()["message"]
    # Tokens still work beside keys.
    assert (await client.get(path, headers=bearer(token))).json() == [a.org_id] * ROWS


async def test_an_archived_key_stops_at_the_next_transaction_of_the_same_request(
    client: httpx.AsyncClient, org_keys: OrgKeys, service_engine: sa.Engine
) -> None:
    a = org_keys.orgs.a
    key = new_key(service_engine, a.org_id)
    response = await client.get(f"/org/{a.org_id}/archive-between", headers=_key(key, "bearer"))
    assert response.json() == {"before": ROWS, "after": 0, "key": True}


async def test_require_checks_with_a_key(client: httpx.AsyncClient, org_keys: OrgKeys) -> None:
    a = org_keys.orgs.a
    writer, plain = _key(org_keys.a_writer, "header"), _key(org_keys.a_plain, "header")
    response = await client.get(f"/org/{a.org_id}/write", headers=writer)
    assert response.status_code == 200 and response.json() == {"permissions": ["items:write"]}
    response = await client.get(f"/org/{a.org_id}/write", headers=plain)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    for path in (f"/org/{a.org_id}/admin", "/me"):
        response = await client.get(path, headers=writer)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "api_key_refused"


async def test_the_cache_cannot_keep_an_archived_key_reading(
    org_keys: OrgKeys, token_verifier: TokenVerifier, service_engine: sa.Engine,
    app_sessions: "sessionmaker[Session]", app_engine: sa.Engine,
) -> None:
    # A verifier that remembers keys for a minute: the request still authenticates
    # after the archive, and the database gives it nothing.
    cached = OrgApiKeyVerifier(service_engine, cache_seconds=60)
    app = build_fastapi(token_verifier, cached, app_sessions, app_engine, service_engine,
                        middleware=True)
    a = org_keys.orgs.a
    key = new_key(service_engine, a.org_id)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        path = f"/org/{a.org_id}/items"
        assert (await client.get(path, headers=_key(key, "bearer"))).json() == [a.org_id] * ROWS
        with service_engine.begin() as svc:
            Management(svc, Actor.service()).api_keys.archive(key.api_key_id)
        response = await client.get(path, headers=_key(key, "bearer"))
        assert response.status_code == 200 and response.json() == []


def test_header_only_or_bearer_only(key_verifier: OrgApiKeyVerifier) -> None:
    assert ApiKeyCredentials(key_verifier, header="X-Org-Key").header == "x-org-key"
    with pytest.raises(ValueError, match="Authorization"):
        ApiKeyCredentials(key_verifier, header="Authorization")
    with pytest.raises(ValueError, match="a place to travel"):
        ApiKeyCredentials(key_verifier, header=None, bearer=False)
    with pytest.raises(TypeError, match="ApiKeyVerifier"):
        ApiKeyCredentials(object())  # type: ignore[arg-type]


async def test_bearer_off_leaves_keys_to_the_token_verifier(
    org_keys: OrgKeys, token_verifier: TokenVerifier, key_verifier: OrgApiKeyVerifier,
) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("refused before the app")

    guarded = TenantMiddleware(app, verifier=token_verifier, org_id=path_param("/org/{org_id}"),
                               api_keys=ApiKeyCredentials(key_verifier, bearer=False))
    transport = httpx.ASGITransport(app=guarded)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        a = org_keys.orgs.a
        response = await client.get(f"/org/{a.org_id}/x", headers=_key(org_keys.a_writer, "bearer"))
        assert response.status_code == 401  # not a JWT


# --- Flask ---------------------------------------------------------------------------


@pytest.fixture
def flask_app(
    org_keys: OrgKeys, token_verifier: TokenVerifier, key_verifier: OrgApiKeyVerifier,
    app_sessions: "sessionmaker[Session]",
) -> Flask:
    app = Flask(__name__)
    tk = FlaskTenantKit(verifier=token_verifier, sessions=app_sessions,
                        api_keys=ApiKeyCredentials(key_verifier))
    tk.init_app(app, check_database=False)

    @app.get("/org/<org_id>/items")
    @tk.require_org_member()
    def items(org_id: str) -> list[str]:
        return list(tk.session().execute(ITEMS).scalars())

    @app.get("/org/<org_id>/write")
    @tk.require_org_member_with_all_permissions(["items:write"])
    def write(org_id: str) -> dict[str, object]:
        access = current_org()
        assert access is not None
        return {"key": isinstance(access.user, ApiKeyPrincipal)}

    @app.get("/org/<org_id>/exact")
    @tk.require_org_member_with_exact_role("Member")
    def exact(org_id: str) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/me")
    @tk.require_user
    def me() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.mark.parametrize("how", ["header", "bearer"])
def test_flask_a_key_reads_its_orgs_rows_only(
    flask_app: Flask, org_keys: OrgKeys, how: str
) -> None:
    client = flask_app.test_client()
    a, b = org_keys.orgs.a, org_keys.orgs.b
    response = client.get(f"/org/{a.org_id}/items", headers=_key(org_keys.a_writer, how))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == [a.org_id] * ROWS
    response = client.get(f"/org/{a.org_id}/items", headers=_key(org_keys.b_writer, how))
    assert response.status_code == 403
    assert response.get_json()["message"] == "this API key belongs to another org"
    assert client.get(f"/org/{b.org_id}/items",
                      headers=_key(org_keys.b_writer, how)).get_json() == [b.org_id] * ROWS


def test_flask_require_checks_with_a_key(flask_app: Flask, org_keys: OrgKeys) -> None:
    client = flask_app.test_client()
    a = org_keys.orgs.a
    writer, plain = _key(org_keys.a_writer, "header"), _key(org_keys.a_plain, "header")
    assert client.get(f"/org/{a.org_id}/write", headers=writer).get_json() == {"key": True}
    assert client.get(f"/org/{a.org_id}/write", headers=plain).status_code == 403
    for path in (f"/org/{a.org_id}/exact", "/me"):
        response = client.get(path, headers=writer)
        assert response.status_code == 403
        assert response.get_json()["error"] == "api_key_refused"
    assert client.get(f"/org/{a.org_id}/items",
                      headers={"x-api-key": "tk_org_unknown"}).status_code == 401
