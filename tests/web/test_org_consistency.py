"""Authorisation and binding use one org: every pair of org sources, on every adapter.

Sources: the `/t/{org_id}` path template (matched before routing), the routed
`org_id` parameter, the X-Org-Id header, the `org_id` query parameter and the
token's active org. For each pair, on each adapter (TenantMiddleware app-wide
and route-level, the FastAPI dependencies with and without the middleware in
front, the Flask decorators):
- both name org A: 200; A is what was authorised and bound, and the handler
  reads A's rows only;
- one names A, the other B: 400 before any database work (zero pool checkouts).

The routed `org_id` is never configured: every adapter compares it with the
org it resolves anyway (the view is handed it). The caller is a member of both
orgs (in the token and in the database), so nothing but the comparison can
refuse the disagreeing requests; `test_without_the_comparison_*` switches it
off and shows them then served.
"""

from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tenantkit.web import TenantMiddleware
from tenantkit.web import _extractors as extractors
from tests.web._consistency import (
    EXTRACTORS,
    FASTAPI_KINDS,
    fastapi_app,
    flask_app,
    starlette_app,
)
from tests.web._support import mint, new_id
from tests.web.conftest import CheckoutCounter

#: Named by the places a case does not use: proof that unconfigured sources are never read.
STRAY = new_id()
PAIRS = list(itertools.combinations(EXTRACTORS, 2))


@dataclass(frozen=True)
class Case:
    first: str
    second: str
    variant: str  # "agree" (A, A), "differ" (A, B) or "differ-swapped" (B, A)

    def __str__(self) -> str:
        return f"{self.first}+{self.second}-{self.variant}"

    @property
    def agrees(self) -> bool:
        return self.variant == "agree"

    def values(self, orgs: TwoOrgs) -> dict[str, str]:
        a, b = orgs.a.org_id, orgs.b.org_id
        first, second = {"agree": (a, a), "differ": (a, b), "differ-swapped": (b, a)}[self.variant]
        return {self.first: first, self.second: second}


def cases(*, routed: bool = True) -> list[Case]:
    return [
        Case(first, second, variant)
        for first, second in PAIRS
        if routed or "routed" not in (first, second)
        for variant in ("agree", "differ", "differ-swapped")
    ]


@dataclass(frozen=True)
class Request:
    prefix: str
    query: str
    headers: dict[str, str]

    def url(self, kind: str) -> str:
        return f"{self.prefix}/{kind}?{self.query}"


def build_request(values: dict[str, str], orgs: TwoOrgs, issuer: TokenIssuer) -> Request:
    """Put each value where its source reads it; every other place names STRAY."""
    t = values.get("template", STRAY)
    routed = values.get("routed")
    prefix = f"/t/{t}/r/{routed}" if routed is not None else f"/t/{t}/s/{STRAY}"
    active = values.get("active")
    user = orgs.shared_user_id
    if active is not None:
        token = mint(issuer, user, {active: "Member"}, active_org_id=active)
    else:
        token = mint(issuer, user, {orgs.a.org_id: "Member", orgs.b.org_id: "Member"})
    return Request(
        prefix,
        urllib.parse.urlencode({"org_id": values.get("query", STRAY)}),
        {"Authorization": f"Bearer {token}", "X-Org-Id": values.get("header", STRAY)},
    )


@pytest.fixture
def counters(small_engine: Engine, small_async_engine: AsyncEngine) -> list[CheckoutCounter]:
    return [CheckoutCounter(small_engine), CheckoutCounter(small_async_engine.sync_engine)]


def check(
    case: Case,
    orgs: TwoOrgs,
    status: int,
    body: dict[str, Any],
    counters: list[CheckoutCounter],
    *,
    reads_rows: bool = True,
    binds: bool = True,
) -> None:
    checkouts = sum(c.count for c in counters)
    if case.agrees:
        org = orgs.a.org_id
        assert status == 200, body
        if body["authorised"] is not None:
            assert body["authorised"] == org
        if binds:
            assert body["bound"] == org
        if reads_rows:
            assert body["rows"] == [org]  # the seeded notes of A, and nothing of B
            assert checkouts >= 1  # the counter's control
        if case.first == "routed" or case.second == "routed":
            assert body["route_org"] == org
    else:
        assert status == 400, body
        assert body["error"] == "invalid_field"
        assert body["fields"]["org_id"].endswith("name different orgs")
        assert checkouts == 0, "refused after taking a pool connection"


async def get(app: Any, url: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(url, headers=headers)


def sources(case: Case) -> list[Any]:
    """The extractors to configure: the routed `org_id` is never configured, always compared."""
    return [EXTRACTORS[name] for name in (case.first, case.second) if name != "routed"]


def split(case: Case) -> tuple[str, str]:
    """(the middleware's source, the dependency's).

    The routed parameter can only be the dependency's (the middleware runs before
    routing); the active org goes to the middleware, since a token naming one
    active org lists only that one, and a middleware reading another source would
    refuse it as "not a member" (403) before any comparison could apply.
    """
    if case.first == "routed" or case.second == "active":
        return case.second, case.first
    return case.first, case.second


# --- plain ASGI ---------------------------------------------------------------------


@pytest.mark.parametrize("case", cases(), ids=str)
async def test_asgi_route_level(
    case: Case,
    notes: TwoOrgs,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    counters: list[CheckoutCounter],
) -> None:
    app = starlette_app(token_verifier, small_engine, sources(case), route_level=True)
    request = build_request(case.values(notes), notes, token_issuer)
    response = await get(app, request.url("notes"), request.headers)
    check(case, notes, response.status_code, response.json(), counters)


# An app-wide middleware runs before routing, so it has no routed parameter to read.
@pytest.mark.parametrize("case", cases(routed=False), ids=str)
async def test_asgi_app_wide(
    case: Case,
    notes: TwoOrgs,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    counters: list[CheckoutCounter],
) -> None:
    app = starlette_app(token_verifier, small_engine, sources(case), route_level=False)
    request = build_request(case.values(notes), notes, token_issuer)
    response = await get(app, request.url("notes"), request.headers)
    check(case, notes, response.status_code, response.json(), counters)


@pytest.mark.parametrize("variant", ["agree", "differ", "differ-swapped"])
async def test_asgi_stacked_middlewares(
    variant: str,
    notes: TwoOrgs,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    counters: list[CheckoutCounter],
) -> None:
    # An app-wide middleware reading the header around a route-level one reading
    # the routed org_id: the inner one must not bind another org than the outer checked.
    case = Case("header", "routed", variant)
    inner = starlette_app(token_verifier, small_engine, EXTRACTORS["routed"], route_level=True)
    app = TenantMiddleware(inner, verifier=token_verifier, org_id=EXTRACTORS["header"])
    request = build_request(case.values(notes), notes, token_issuer)
    response = await get(app, request.url("notes"), request.headers)
    check(case, notes, response.status_code, response.json(), counters)


# --- FastAPI --------------------------------------------------------------------------


def _fastapi(
    case: Case,
    verifier: TokenVerifier,
    engine: Engine,
    async_engine: AsyncEngine,
    *,
    middleware: bool,
) -> Any:
    sessions, async_sessions = sessionmaker(engine), async_sessionmaker(async_engine)
    if not middleware:
        return fastapi_app(
            verifier, sessions, async_sessions, middleware_org_id=None, org_id=sources(case)
        )
    outer, inner = split(case)
    return fastapi_app(
        verifier,
        sessions,
        async_sessions,
        middleware_org_id=EXTRACTORS[outer],
        org_id=EXTRACTORS[inner],
    )


@pytest.mark.parametrize("middleware", [False, True], ids=["dependencies", "middleware"])
@pytest.mark.parametrize("case", cases(), ids=str)
async def test_fastapi(
    case: Case,
    middleware: bool,
    notes: TwoOrgs,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    small_async_engine: AsyncEngine,
    counters: list[CheckoutCounter],
) -> None:
    app = _fastapi(case, token_verifier, small_engine, small_async_engine, middleware=middleware)
    request = build_request(case.values(notes), notes, token_issuer)
    for kind in FASTAPI_KINDS:
        for counter in counters:
            counter.count = 0
        response = await get(app, request.url(kind), request.headers)
        # require_* alone binds nothing (unless the middleware did) and reads no rows.
        check(
            case,
            notes,
            response.status_code,
            response.json(),
            counters,
            reads_rows=kind != "require",
            binds=kind != "require" or middleware,
        )


# --- Flask ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases(), ids=str)
def test_flask(
    case: Case,
    notes: TwoOrgs,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    counters: list[CheckoutCounter],
) -> None:
    client = flask_app(token_verifier, small_engine, sources(case)).test_client()
    request = build_request(case.values(notes), notes, token_issuer)
    response = client.get(request.url("notes"), headers=request.headers)
    body = response.get_json()
    assert isinstance(body, dict)
    check(case, notes, response.status_code, body, counters)


# --- the same requests with the comparison switched off ---------------------------------


def _first_named(named: Any) -> str | None:
    """What resolving the org would be without the comparison: the first source that names one."""
    return next((org for _label, org in named if org is not None), None)


@contextmanager
def comparison_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setattr(extractors, "agree", _first_named)
        yield


DIFFERING = [c for c in cases() if not c.agrees and "active" not in (c.first, c.second)]


def assert_confused(case: Case, orgs: TwoOrgs, status: int, body: dict[str, Any]) -> None:
    """Served, bound to one org, while the request (route or a source) named the other."""
    assert status == 200, body
    named = set(case.values(orgs).values())
    assert named == {orgs.a.org_id, orgs.b.org_id}
    assert body["bound"] in named or body["authorised"] in named
    if body["route_org"] is not None:
        acted_for = body["bound"] or body["authorised"]
        assert acted_for is not None
        if acted_for != body["route_org"]:
            return  # the handler is handed one org and bound to the other
    # Otherwise the other source's org was silently ignored: also a confusion, and 200.


@pytest.mark.parametrize("case", DIFFERING, ids=str)
async def test_without_the_comparison_the_requests_are_served(
    case: Case,
    notes: TwoOrgs,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
    small_engine: Engine,
    small_async_engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = build_request(case.values(notes), notes, token_issuer)
    apps: list[tuple[str, Callable[[], Any]]] = [
        ("asgi", lambda: starlette_app(
            token_verifier, small_engine, sources(case), route_level=True)),
        ("fastapi", lambda: _fastapi(
            case, token_verifier, small_engine, small_async_engine, middleware=False)),
        ("fastapi+middleware", lambda: _fastapi(
            case, token_verifier, small_engine, small_async_engine, middleware=True)),
    ]
    with comparison_off(monkeypatch):
        for name, build in apps:
            kind = "notes" if name == "asgi" else "session"
            response = await get(build(), request.url(kind), request.headers)
            assert_confused(case, notes, response.status_code, response.json())
        client = flask_app(token_verifier, small_engine, sources(case)).test_client()
        served = client.get(request.url("notes"), headers=request.headers)
        assert_confused(case, notes, served.status_code, served.get_json())
