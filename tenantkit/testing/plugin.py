"""pytest plugin (entry point `tenantkit`): a real PostgreSQL, roles and fixtures.

Nothing starts until a test asks for a database fixture, so pure-Python tests
stay fast; the header names the server the run uses (`servers.describe_server`).
Fixtures:

- `tenantkit_server`: the running server (see `servers.choose_server` for the order);
- `tenantkit_db`: a fresh, migrated database with owner/app/service roles,
  signed binding on with a per-run key (`binding_key`, exported to every engine),
  and the app's own Alembic migrations (with the `tenantkit_alembic_ini` ini
  option or a `tenantkit_migrate_app` fixture, see `alembic_migrations`);
- `tenantkit_roles`: the run's real role names (they carry a random suffix);
- `owner_engine`, `service_engine`: plain engines for those roles;
- `app_engine`, `async_app_engine`: app-role engines with tenant binding installed;
- `app_sessions`, `async_app_sessions`: session factories on them;
- `service_session`: a `Session` as the service role;
- `seed`: two orgs seeded once per run (treat as read-only);
- `make_seed`: a factory for fresh orgs, for tests that change memberships;
- `superuser`: an autocommit psycopg connection as a superuser, for oracle counts;
- `token_issuer`, `token_verifier`: a fresh RS256 issuer and a verifier trusting it;
- `mint_token`: `mint_token(user_id)`, a token stating the user's memberships
  as the database holds them now;
- `citus_cluster`: a Citus coordinator + 2 workers (`tenantkit.testing.citus`),
  or a skip saying why there is no Citus build.

The async fixtures are pytest-asyncio fixtures, so they work in its strict and
auto modes; the async engine is per test, on the test's own event loop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
import sqlalchemy
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import migrate
from tenantkit.database_roles import DatabaseRoles
from tenantkit.db import create_async_engine, create_engine
from tenantkit.db.signing import ENV_VAR, BindingKey, BindingSigner
from tenantkit.testing._app_migrations import MigrateApp, upgrade_app
from tenantkit.testing._members import token_for_user
from tenantkit.testing._seed import TwoOrgs, seed_two_orgs
from tenantkit.testing._tokens import token_issuer, token_verifier
from tenantkit.testing.citus import CitusCluster, find_citus_bindir, start_citus_cluster
from tenantkit.testing.database import TestDatabase, configure_signing, provision_database
from tenantkit.testing.servers import (
    RunningServer,
    ServerChoice,
    choose_server_from_environment,
    describe_server,
    start_server,
)
from tenantkit.tokens import TokenIssuer

_CHOICE = pytest.StashKey[ServerChoice | str]()


def _server_choice(config: pytest.Config) -> ServerChoice:
    """The run's server choice, made once (the header and the fixture share it)."""
    if _CHOICE not in config.stash:
        try:
            config.stash[_CHOICE] = choose_server_from_environment()
        except RuntimeError as exc:
            config.stash[_CHOICE] = str(exc)
    choice = config.stash[_CHOICE]
    if isinstance(choice, str):
        raise RuntimeError(choice)
    return choice


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "tenantkit_alembic_ini",
        "The app's alembic.ini (relative to the rootdir): its migrations run on the test "
        "database after tenantkit's, as the owner",
        default="",
    )


@pytest.fixture(scope="session")
def tenantkit_migrate_app(request: pytest.FixtureRequest) -> MigrateApp | None:
    """How the app's own migrations run on the test database (None: they do not).

    From the `tenantkit_alembic_ini` ini option; override it in conftest.py with
    `tenantkit_migrate_app = alembic_migrations("alembic.ini")` or any fixture
    returning a callable taking the `TestDatabase`.
    """
    ini = str(request.config.getini("tenantkit_alembic_ini") or "")
    if not ini:
        return None
    path = Path(request.config.rootpath) / ini
    return lambda db: upgrade_app(db, path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "citus: runs on the Citus test cluster (added to tests using citus_cluster)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m citus` / `-m "not citus"` split the cluster's tests into a suite of their own
    # (make test-citus), so the single-server runs never start a cluster.
    for item in items:
        if "citus_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.citus)


def pytest_report_header(config: pytest.Config) -> str:
    try:
        return f"tenantkit: {describe_server(_server_choice(config))}"
    except RuntimeError as exc:
        return f"tenantkit: no PostgreSQL: {exc}"


@pytest.fixture(scope="session")
def tenantkit_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A running PostgreSQL for this test run."""
    server = start_server(_server_choice(request.config))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[CitusCluster]:
    """A throwaway Citus cluster for this run; skips (with the reason) without a build."""
    bindir, why = find_citus_bindir()
    if bindir is None:
        pytest.skip(why)
    cluster = start_citus_cluster(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def binding_key() -> BindingKey | None:
    """The run's binding key: signed binding is on by default in tests.

    A fresh secret per run (or the one TENANTKIT_BINDING_SECRET names), exported
    through that variable so every tenantkit engine of the run signs with it.
    TENANTKIT_TEST_UNSIGNED=1 runs unsigned.
    """
    if os.environ.get("TENANTKIT_TEST_UNSIGNED") == "1":
        return None
    signer = BindingSigner.from_env()
    if signer is not None:
        return signer.key
    key = BindingKey.generate("test-run")
    os.environ[ENV_VAR] = key.export()
    return key


@pytest.fixture(scope="session")
def tenantkit_db(
    tenantkit_server: RunningServer,
    binding_key: BindingKey | None,
    tenantkit_migrate_app: MigrateApp | None,
) -> Iterator[TestDatabase]:
    """A fresh database with tenantkit's schema migrated, as the owner role; signed
    binding on with the run's key (see `binding_key`); then the app's migrations
    (if configured)."""
    db = provision_database(tenantkit_server)
    try:
        migrate.upgrade(db.url("owner"), roles=db.roles)
        configure_signing(db, binding_key)  # an unsigned run opts out explicitly
        if tenantkit_migrate_app is not None:
            tenantkit_migrate_app(db)
        yield db
    finally:
        if not tenantkit_server.throwaway:
            db.drop()


@pytest.fixture(scope="session")
def tenantkit_roles(tenantkit_db: TestDatabase) -> DatabaseRoles:
    """The app and service role names of this run (random suffixes: never hard-code them)."""
    return tenantkit_db.roles


@pytest.fixture(scope="session")
def owner_engine(tenantkit_db: TestDatabase) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(tenantkit_db.url("owner"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def service_engine(tenantkit_db: TestDatabase) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(tenantkit_db.url("service"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app_engine(tenantkit_db: TestDatabase) -> Iterator[Engine]:
    """The app role's engine, with tenant binding installed."""
    engine = create_engine(tenantkit_db.url("app"), pool_size=5, max_overflow=5)
    yield engine
    engine.dispose()


@pytest_asyncio.fixture
async def async_app_engine(tenantkit_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    """The app role's async engine, with tenant binding installed (per test: its loop)."""
    engine = create_async_engine(tenantkit_db.url("app"), pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def app_sessions(app_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(app_engine)


@pytest.fixture
def async_app_sessions(async_app_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(async_app_engine)


@pytest.fixture
def service_session(service_engine: Engine) -> Iterator[Session]:
    with Session(service_engine) as session:
        yield session


@pytest.fixture(scope="session")
def make_seed(service_engine: Engine) -> Callable[[], TwoOrgs]:
    """Call to seed two fresh orgs (committed) and get their ids."""

    def make() -> TwoOrgs:
        with service_engine.begin() as conn:
            return seed_two_orgs(conn)

    return make


@pytest.fixture(scope="session")
def seed(make_seed: Callable[[], TwoOrgs]) -> TwoOrgs:
    """Two orgs seeded once per run. Do not change them; use `make_seed` for that."""
    return make_seed()


@pytest.fixture(scope="session")
def mint_token(service_engine: Engine, token_issuer: TokenIssuer) -> Callable[..., str]:
    """`mint_token(user_id, active_org_id=None)`: a token from the user's memberships now."""

    def mint(user_id: str, *, active_org_id: str | None = None) -> str:
        return token_for_user(service_engine, token_issuer, user_id, active_org_id=active_org_id)

    return mint


@pytest.fixture
def superuser(tenantkit_db: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser connection to the test database, outside RLS, for oracle checks."""
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        yield conn


__all__ = ["token_issuer", "token_verifier"]  # fixtures defined elsewhere, exposed here
