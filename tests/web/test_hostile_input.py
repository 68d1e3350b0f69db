"""Hostile strings in the web layer: 400 for an org value, 401 for an Authorization
header, never 500, and never after a pool checkout.

Values are put into ASGI scopes (and WSGI environs) directly, as a server or a
proxy might pass them, so characters a client library would refuse to send
(NUL, lone surrogates, control characters) reach the adapters too.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from tenantkit import current_context
from tenantkit.errors import Forbidden
from tenantkit.testing import TwoOrgs
from tenantkit.tokens import Principal, TokenIssuer, TokenVerifier
from tenantkit.web import (
    Requirement,
    TenantMiddleware,
    authorize,
    header,
    path_param,
    query_param,
)
from tenantkit.web._types import ASGIApp, Message, Receive, Scope, Send
from tenantkit.web.flask import TenantKit as FlaskTenantKit
from tests.web._support import build_app, member_info, mint, new_id
from tests.web.conftest import CheckoutCounter

ORG, USER = new_id(), new_id()

#: Org values that are not a UUID, each a different way to be one almost.
HOSTILE_ORGS = {
    "nul": "\x00",
    "nul-inside": ORG[:8] + "\x00" + ORG[9:],
    "control": ORG[:-1] + "\x01",
    "del": ORG[:-1] + "\x7f",
    "c1": ORG[:-1] + "\x85",
    "newline": ORG + "\n",
    "surrogate": "\ud800",
    "surrogate-inside": ORG[:-1] + "\udfff",
    "non-ascii": "é" * 36,
    "unicode-digits": "\u0661" * 8 + ORG[8:],  # ARABIC-INDIC DIGIT ONE: \d, not [0-9]
    "fullwidth": "\uff41" + ORG[1:],
    "bidi": "\u202e" + ORG,
    "braces": "{" + ORG + "}",
    "bare-hex": ORG.replace("-", ""),
    "urn": "urn:uuid:" + ORG,
    "padded": " " + ORG,
    "long": "a" * 100_000,
}
#: Authorization values that are not `Bearer <visible ASCII>`.
HOSTILE_AUTH = {
    "nul": "Bearer a\x00b",
    "only-nul": "\x00",
    "control": "Bearer a\x01b",
    "del": "Bearer \x7f",
    "c1": "Bearer a\x85b",
    "latin1": "Bearer \xff\xfe",
    "surrogate": "Bearer a\ud800b",
    "utf8": "Bearer é",
    "newline": "Bearer a\nb",
    "scheme-nul": "Bear\x00er abc",
    "long": "Bearer " + "a" * 100_000,
}


def raw(value: str) -> bytes:
    """The bytes a client would send for `value` (lone surrogates as WTF-8)."""
    return value.encode("utf-8", "surrogatepass")


def http_scope(
    path: str,
    *,
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    query: bytes = b"",
    path_params: dict[str, Any] | None = None,
) -> Scope:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": raw(path),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"test"), *headers],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
    }
    if path_params is not None:
        scope["path_params"] = path_params
    return scope


async def call(app: ASGIApp, scope: Scope) -> tuple[int, Any]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(body)


def assert_refused(status: int, body: dict[str, Any], expected: int) -> None:
    assert status == expected, body
    assert body["error"] == {400: "invalid_field", 401: "unauthorized"}[expected]
    # The refusal never echoes the value (it could be anything, of any length).
    assert len(json.dumps(body)) < 300


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


@pytest.fixture
def token(token_issuer: TokenIssuer) -> str:
    return mint(token_issuer, USER, {ORG: "Member"})


# --- TenantMiddleware ------------------------------------------------------------------


def _never_called(scope: Scope, receive: Receive, send: Send) -> Any:
    raise AssertionError("a refused request must not reach the app")


def placements(value: str, token: str) -> dict[str, tuple[Any, Scope]]:
    """Where an org value can come from, each with the scope carrying `value` there."""
    quoted = urllib.parse.quote(raw(value)).encode()
    auth = bearer(token)
    return {
        "template": (path_param("/org/{org_id}"), http_scope(f"/org/{value}/notes",
                                                             headers=[auth])),
        "routed": (path_param(), http_scope("/x", headers=[auth],
                                            path_params={"org_id": value})),
        "header": (header("X-Org-Id"), http_scope("/x", headers=[auth,
                                                                 (b"x-org-id", raw(value))])),
        "query": (query_param("org_id"), http_scope("/x", headers=[auth],
                                                   query=b"org_id=" + quoted)),
    }


@pytest.mark.nodb
@pytest.mark.parametrize("where", ["template", "routed", "header", "query"])
@pytest.mark.parametrize("value", HOSTILE_ORGS.values(), ids=HOSTILE_ORGS.keys())
async def test_middleware_refuses_hostile_org_values_with_400(
    value: str, where: str, token_verifier: TokenVerifier, token: str
) -> None:
    if where == "template" and "/" in value:
        pytest.skip("a slash ends the segment")
    extractor, scope = placements(value, token)[where]
    app = TenantMiddleware(_never_called, verifier=token_verifier, org_id=extractor)
    status, body = await call(app, scope)
    assert_refused(status, body, 400)
    assert body["fields"]["org_id"].endswith("must be a UUID")


@pytest.mark.nodb
@pytest.mark.parametrize("value", HOSTILE_AUTH.values(), ids=HOSTILE_AUTH.keys())
async def test_middleware_refuses_hostile_authorization_with_401(
    value: str, token_verifier: TokenVerifier
) -> None:
    app = TenantMiddleware(_never_called, verifier=token_verifier,
                           org_id=path_param("/org/{org_id}"))
    scope = http_scope(f"/org/{ORG}/notes", headers=[(b"authorization", raw(value))])
    status, body = await call(app, scope)
    assert_refused(status, body, 401)


@pytest.mark.nodb
async def test_forms_of_one_uuid_are_one_org(
    token_verifier: TokenVerifier, token: str
) -> None:
    # Upper case, a trailing slash, a routed copy: the same org, so they agree.
    seen: list[str | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ctx = current_context()
        seen.append(None if ctx is None else ctx.org_id)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = TenantMiddleware(
        app, verifier=token_verifier, org_id=[path_param("/org/{org_id}"), header()]
    )
    scope = http_scope(f"/org/{ORG.upper()}/", headers=[bearer(token), (b"x-org-id", raw(ORG))],
                       path_params={"org_id": ORG.upper()})
    assert (await call(middleware, scope))[0] == 200
    assert seen == [ORG]


# --- FastAPI ---------------------------------------------------------------------------


@pytest.fixture(params=["middleware", "dependencies"])
def fastapi_app(
    request: pytest.FixtureRequest,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    small_async_engine: AsyncEngine,
) -> ASGIApp:
    return build_app(
        token_verifier,
        sessions=sessionmaker(small_engine),
        async_sessions=async_sessionmaker(small_async_engine),
        middleware=request.param == "middleware",
    )


@pytest.fixture
def counters(small_engine: Engine, small_async_engine: AsyncEngine) -> list[CheckoutCounter]:
    return [CheckoutCounter(small_engine), CheckoutCounter(small_async_engine.sync_engine)]


@pytest.mark.parametrize("route", ["notes", "anotes", "member"])
async def test_fastapi_refuses_hostile_values_before_any_checkout(
    fastapi_app: ASGIApp, route: str, token: str, counters: list[CheckoutCounter]
) -> None:
    for value in HOSTILE_ORGS.values():
        if "/" in value:
            continue
        # Starlette routes on the decoded path and hands the segment on as given.
        scope = http_scope(f"/org/{value}/{route}", headers=[bearer(token)])
        assert_refused(*await call(fastapi_app, scope), 400)
    for value in HOSTILE_AUTH.values():
        scope = http_scope(f"/org/{ORG}/{route}", headers=[(b"authorization", raw(value))])
        assert_refused(*await call(fastapi_app, scope), 401)
    assert [c.count for c in counters] == [0, 0]


# --- Flask -----------------------------------------------------------------------------


def wsgi(value: str) -> str:
    """`value` as a WSGI environ carries it: its bytes, as latin-1 code points."""
    return raw(value).decode("latin-1")


def flask_app(verifier: TokenVerifier, engine: Engine, **options: Any) -> Flask:
    app = Flask(__name__)
    tk = FlaskTenantKit(app, verifier=verifier, sessions=sessionmaker(engine), **options)

    @app.get("/org/<org_id>/notes")
    @app.get("/x")
    @tk.require_org_member()
    def notes(org_id: str | None = None) -> dict[str, object]:
        return {"n": len(tk.session().execute(text("SELECT 1 FROM public.notes")).all())}

    return app


def test_flask_refuses_hostile_values_before_any_checkout(
    token_verifier: TokenVerifier, small_engine: Engine, token: str
) -> None:
    auth = f"Bearer {token}"
    by_path = flask_app(token_verifier, small_engine).test_client()
    by_header = flask_app(token_verifier, small_engine, org_id=header()).test_client()
    by_query = flask_app(token_verifier, small_engine, org_id=query_param()).test_client()
    # Counted from here: init_app's startup check took its connection already.
    counter = CheckoutCounter(small_engine)
    for value in HOSTILE_ORGS.values():
        if "/" not in value:
            path = "/org/" + urllib.parse.quote(raw(value)) + "/notes"
            response = by_path.get(path, headers={"Authorization": auth})
            assert_refused(response.status_code, response.get_json(), 400)
        response = by_header.get("/x", environ_base={"HTTP_AUTHORIZATION": auth,
                                                     "HTTP_X_ORG_ID": wsgi(value)})
        assert_refused(response.status_code, response.get_json(), 400)
        query = "org_id=" + urllib.parse.quote(raw(value))
        response = by_query.get("/x", query_string=query, headers={"Authorization": auth})
        assert_refused(response.status_code, response.get_json(), 400)
    for value in HOSTILE_AUTH.values():
        response = by_path.get(f"/org/{ORG}/notes",
                               environ_base={"HTTP_AUTHORIZATION": wsgi(value)})
        assert_refused(response.status_code, response.get_json(), 401)
    assert counter.count == 0


def test_flask_repeated_org_values_are_400(
    token_verifier: TokenVerifier, small_engine: Engine, token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    by_query = flask_app(token_verifier, small_engine, org_id=query_param()).test_client()
    response = by_query.get(f"/x?org_id={ORG}&org_id={ORG}", headers=auth)
    assert response.status_code == 400
    by_header = flask_app(token_verifier, small_engine, org_id=header()).test_client()
    response = by_header.get("/x", headers=[*auth.items(), ("X-Org-Id", ORG), ("X-Org-Id", ORG)])
    assert response.status_code == 400


# --- the last step: bind the org that was checked ---------------------------------------


@pytest.mark.nodb
def test_authorize_binds_only_the_org_it_checked() -> None:
    other = new_id()
    # A hand-built principal whose membership record, filed under ORG, names another org.
    principal = Principal(USER, org_id_to_org_member_info={ORG: member_info(other, "Owner")})
    with pytest.raises(Forbidden):
        authorize(principal, ORG, Requirement.member())
    honest = Principal(USER, org_id_to_org_member_info={ORG: member_info(ORG, "Owner")})
    auth = authorize(honest, ORG, Requirement.member())
    assert auth.context is not None
    assert (auth.org_id, auth.context.org_id) == (ORG, ORG)


@pytest.mark.usefixtures("notes")
async def test_agreeing_forms_are_served(
    fastapi_app: ASGIApp, notes: TwoOrgs, token_issuer: TokenIssuer
) -> None:
    org = notes.a.org_id
    token = mint(token_issuer, notes.a.member_id, {org: "Member"})
    scope = http_scope(f"/org/{org.upper()}/notes", headers=[bearer(token)])
    status, rows = await call(fastapi_app, scope)
    assert status == 200
    assert {row["org_id"] for row in rows} == {org}
