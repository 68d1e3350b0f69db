"""The backend API under test: its own fresh database, an integration key, a client."""

from __future__ import annotations

from collections.abc import Iterator

import dns.resolver
import pytest
import sqlalchemy
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit import migrate
from tenantkit.server import create_app
from tenantkit.server.cli import create_integration_key
from tenantkit.testing import (
    RunningServer,
    TestDatabase,
    TwoOrgs,
    provision_database,
    seed_two_orgs,
)
from tenantkit.tokens import TokenIssuer

ISSUER = "https://auth.tenantkit.test"


@pytest.fixture(scope="session")
def api_db(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    """A database of its own: schemathesis fills it with random orgs and users."""
    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


@pytest.fixture(scope="session")
def api_engine(api_db: TestDatabase) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(api_db.url("service"), pool_size=5, max_overflow=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def integration_key(api_db: TestDatabase) -> str:
    return create_integration_key(api_db.url("service"), "tests")


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    return TokenIssuer.generate(issuer=ISSUER)


@pytest.fixture(scope="session")
def app(api_engine: Engine, issuer: TokenIssuer) -> FastAPI:
    # Domain verification asks a DNS server that is not there (nothing verifies here;
    # tests/selfservice/test_domain_verification.py runs a real one).
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], 9, 0.3
    return create_app(api_engine, issuer=issuer, dns_resolver=resolver)


@pytest.fixture(scope="session")
def client(app: FastAPI, integration_key: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {integration_key}"}) as c:
        yield c


@pytest.fixture
def orgs(api_engine: Engine) -> TwoOrgs:
    """Two fresh orgs with Owner, Admin, Member and a shared user, in the API's database."""
    with api_engine.begin() as conn:
        return seed_two_orgs(conn)
