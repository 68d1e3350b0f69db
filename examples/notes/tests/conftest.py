"""The notes example on its own database (on the run's server), migrated and seeded."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy
from sqlalchemy import Engine

import tenantkit
from examples.notes.app import create_app
from examples.notes.db import migrate
from examples.notes.seed import Seed, seed
from tenantkit import TokenIssuer, TokenVerifier
from tenantkit.testing import (
    RunningServer,
    TestDatabase,
    configure_signing,
    provision_database,
)

NOTES_PER_ORG = 3


@pytest.fixture(scope="session")
def notes_db(
    tenantkit_server: RunningServer, binding_key: tenantkit.BindingKey | None
) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    migrate(db.url("owner"), db.roles)
    configure_signing(db, binding_key)  # signed as the run is (fresh installs sign)
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


@pytest.fixture(scope="session")
def notes_service_engine(notes_db: TestDatabase) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(notes_db.url("service"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def notes_app_engine(notes_db: TestDatabase) -> Iterator[Engine]:
    engine = tenantkit.create_engine(notes_db.url("app"))
    yield engine
    engine.dispose()


@pytest.fixture
def demo(notes_service_engine: Engine, notes_app_engine: Engine) -> Seed:
    """Freshly seeded orgs for each test (tests change memberships and notes)."""
    tag = secrets.token_hex(3)
    return seed(notes_service_engine, notes_app_engine, notes_per_org=NOTES_PER_ORG, tag=tag)


@pytest.fixture
async def client(
    notes_db: TestDatabase, token_verifier: TokenVerifier
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(notes_db.url("app"), token_verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notes") as client:
        yield client
    app.state.engine.dispose()


@pytest.fixture
def issuer(token_issuer: TokenIssuer) -> TokenIssuer:
    return token_issuer
