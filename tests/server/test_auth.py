"""Integration-key auth (401), per-key rate limiting (429) and disabled token features (426),
on every documented operation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit.orgs import Actor, Management
from tenantkit.server import RateLimit, create_app
from tenantkit.server._ratelimit import RateLimiter
from tenantkit.server.cli import create_integration_key
from tenantkit.testing import TestDatabase

GHOST = "00000000-0000-4000-8000-000000000000"


def operations() -> list[tuple[str, str]]:
    import sqlalchemy

    schema = create_app(sqlalchemy.create_engine("postgresql+psycopg://nobody@localhost/none"))
    paths = schema.openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", GHOST, path)


OPERATIONS = operations()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda x: str(x))
@pytest.mark.parametrize("header", [None, "Bearer tk_int_wrong", "Basic abc", "Bearer"],
                         ids=["none", "unknown-key", "wrong-scheme", "empty"])
def test_every_operation_needs_an_integration_key(
    app: FastAPI, method: str, path: str, header: str | None
) -> None:
    client = TestClient(app)
    headers = {"Authorization": header} if header is not None else {}
    response = client.request(method, concrete(path), headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_org_keys_are_not_integration_keys(app: FastAPI, api_engine: Engine) -> None:
    with api_engine.begin() as conn:
        m = Management(conn, Actor.service())
        org = m.orgs.create("keyed")
        secret = m.api_keys.create(org_id=org.org_id).secret
    response = TestClient(app).get(f"/api/backend/v1/org/{org.org_id}",
                                   headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_archived_integration_key_stops_working(api_engine: Engine, api_db: TestDatabase) -> None:
    app = create_app(api_engine, key_cache_seconds=0)
    secret = create_integration_key(api_db.url("service"), "short-lived")
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/api/backend/v1/custom_role_mappings").status_code == 200
    with api_engine.begin() as conn:
        m = Management(conn, Actor.service())
        [key] = [k for k in m.api_keys.list(kind="integration", page=None).items
                 if secret.startswith(k.prefix)]
        m.api_keys.archive(key.api_key_id)
    assert client.get("/api/backend/v1/custom_role_mappings").status_code == 401


@pytest.fixture(scope="module")
def limited(api_engine: Engine, integration_key: str) -> Iterator[TestClient]:
    app = create_app(api_engine, rate_limit=RateLimit(per_minute=1))
    with TestClient(app, headers={"Authorization": f"Bearer {integration_key}"}) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda x: str(x))
def test_every_operation_is_rate_limited_per_key(
    limited: TestClient, method: str, path: str
) -> None:
    limited.request(method, concrete(path), json={})  # spends this key's one token (or none)
    response = limited.request(method, concrete(path), json={})
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


def test_rate_limit_is_per_key_and_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(per_minute=60, burst=2), clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(Exception, match="rate limit"):
        limiter.check("a")
    limiter.check("b")  # another key has its own bucket
    now[0] += 1.0
    limiter.check("a")
    assert RateLimit(10).burst is None
    with pytest.raises(ValueError):
        RateLimit(0)


@pytest.mark.parametrize("path", ["/api/backend/v1/access_token",
                                  "/api/v1/token_verification_metadata",
                                  "/api/backend/v1/token_verification_metadata"])
def test_token_features_need_an_issuer(api_engine: Engine, integration_key: str,
                                       path: str) -> None:
    client = TestClient(create_app(api_engine),
                        headers={"Authorization": f"Bearer {integration_key}"})
    method = "POST" if path.endswith("access_token") else "GET"
    response = client.request(method, path, json={"user_id": GHOST, "duration_in_minutes": 1})
    assert response.status_code == 426
    assert response.json()["error"] == "feature_disabled"
