"""Fixtures for the events tests: a database of their own, endpoints, workers, a receiver.

The events tests get their own database, so no other test's writes or
endpoints mix with theirs; every test starts with no endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy
from sqlalchemy import Engine

from tenantkit import migrate
from tenantkit.db import create_engine
from tenantkit.db.signing import BindingKey
from tenantkit.events import Endpoints, SecretBox
from tenantkit.events._retry import RetryPolicy
from tenantkit.events._secretbox import new_key
from tenantkit.events._worker import Worker, WorkerConfig
from tenantkit.orgs import Actor, Management
from tenantkit.testing import (
    RunningServer,
    TestDatabase,
    TwoOrgs,
    configure_signing,
    provision_database,
    seed_two_orgs,
)
from tests.events.receiver import Receiver

#: Retries in milliseconds, so failure scenarios finish in seconds.
FAST_RETRY = RetryPolicy(max_attempts=1000, base=0.005, factor=2.0, cap=0.05)


@pytest.fixture(scope="session")
def events_db(
    tenantkit_server: RunningServer, binding_key: BindingKey | None
) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    configure_signing(db, binding_key)  # a new install signs: with the run's key
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


@pytest.fixture(scope="session")
def ev_service(events_db: TestDatabase) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(events_db.url("service"), pool_size=10, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def ev_app(events_db: TestDatabase) -> Iterator[Engine]:
    """The app role on the events database, with tenant binding."""
    engine = create_engine(events_db.url("app"), pool_size=5, max_overflow=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def events_key() -> str:
    """The application key (TENANTKIT_EVENTS_KEY) the tests' endpoints and workers share."""
    return new_key()


@pytest.fixture(scope="session")
def box(events_key: str) -> SecretBox:
    return SecretBox.from_text(events_key)


@pytest.fixture
def ev_orgs(ev_service: Engine) -> TwoOrgs:
    """Two fresh orgs with an Owner, an Admin, a Member and a shared user each."""
    with ev_service.begin() as conn:
        return seed_two_orgs(conn)


@pytest.fixture
def service(ev_service: Engine) -> Callable[[], Any]:
    """`with service() as m:` a service-role Management, committed at the end."""

    @contextmanager
    def open_() -> Iterator[Management]:
        with ev_service.begin() as conn:
            yield Management(conn, Actor.service())

    return open_


@pytest.fixture
def endpoints(ev_service: Engine, box: SecretBox) -> Callable[[], Any]:
    """`with endpoints() as e:` the endpoints service, committed at the end."""

    @contextmanager
    def open_() -> Iterator[Endpoints]:
        with ev_service.begin() as conn:
            yield Endpoints(conn, box=box)

    return open_


@pytest.fixture(autouse=True)
def _no_endpoints_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts and ends with no endpoints (only for tests using the events db)."""
    yield
    if "events_db" in request.fixturenames:
        db: TestDatabase = request.getfixturevalue("events_db")
        with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
            conn.execute("DELETE FROM tenantkit.webhook_endpoints")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def start_worker(events_db: TestDatabase, box: SecretBox) -> Iterator[Callable[..., Worker]]:
    """`start_worker(**config)`: a running in-process worker (development mode), stopped after."""
    started: list[Worker] = []

    def start(**overrides: Any) -> Worker:
        settings: dict[str, Any] = {"allow_loopback_http": True, "retry": FAST_RETRY,
                                    "poll_interval": 0.2, "timeout": 2.0, "concurrency": 2}
        settings.update(overrides)
        worker = Worker(events_db.conninfo("service"), WorkerConfig(**settings), box=box)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=10)


def committed_ids(db: TestDatabase, after: int, *, org_ids: list[str] | None = None,
                  types: list[str] | None = None) -> list[int]:
    """Oracle: the committed event ids above `after` (read as a superuser)."""
    query = "SELECT event_id FROM tenantkit.events WHERE event_id > %s"
    params: list[Any] = [after]
    if org_ids is not None:
        query += " AND org_id = ANY (%s::uuid[])"
        params.append(org_ids)
    if types is not None:
        query += " AND event_type = ANY (%s)"
        params.append(types)
    with psycopg.connect(db.conninfo("admin")) as conn:
        return [int(r[0]) for r in conn.execute(query + " ORDER BY event_id", params)]


def newest_event_id(db: TestDatabase) -> int:
    with psycopg.connect(db.conninfo("admin")) as conn:
        row = conn.execute("SELECT COALESCE(max(event_id), 0) FROM tenantkit.events").fetchone()
    assert row is not None
    return int(row[0])
