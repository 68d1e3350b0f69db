"""Concurrency: limits hold under parallel writers; create and delete of one org race cleanly."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import sqlalchemy
from sqlalchemy import Engine

from tenantkit import Conflict, LimitReached, NotFound, TenantkitError
from tenantkit.orgs import Management
from tenantkit.testing import TestDatabase

from .conftest import ServiceFactory

pytestmark = pytest.mark.slow


@pytest.fixture
def wide_engine(tenantkit_db: TestDatabase) -> Engine:
    """A service engine with a connection per thread (the shared one pools only 15)."""
    engine = sqlalchemy.create_engine(tenantkit_db.url("service"), pool_size=50, max_overflow=0)
    yield engine  # type: ignore[misc]
    engine.dispose()


def in_parallel(n: int, work: Callable[[int], object]) -> list[object]:
    """Run work(0..n-1) on n threads released together; results or the typed errors."""
    barrier = threading.Barrier(n)

    def one(i: int) -> object:
        barrier.wait()
        try:
            return work(i)
        except TenantkitError as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_fifty_concurrent_adds_with_max_users_ten(
    wide_engine: Engine, service: ServiceFactory, unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    with service() as m:
        org = m.orgs.create(unique("crowded"), max_users=10)
        people = [m.users.create(f"{unique('p')}@example.com", autojoin=False).user_id
                  for _ in range(50)]

    def add(i: int) -> object:
        with wide_engine.begin() as conn:
            return Management(conn).members.add(org.org_id, people[i], "Member")

    results = in_parallel(50, add)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(results) - len(errors) == 10
    assert len(errors) == 40 and all(isinstance(e, LimitReached) for e in errors)
    assert "max_users" in str(errors[0])
    row = superuser.execute(
        "SELECT count(*) FROM tenantkit.memberships WHERE org_id = %s", (org.org_id,)
    ).fetchone()
    assert row == (10,)


def test_concurrent_create_and_delete_of_one_org(
    wide_engine: Engine, service: ServiceFactory, unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    """Creators race for one external_id while deleters and member-adders race on it."""
    external = unique("contested")
    with service() as m:
        people = [m.users.create(f"{unique('c')}@example.com", autojoin=False).user_id
                  for _ in range(8)]

    def work(i: int) -> object:
        with wide_engine.begin() as conn:
            m = Management(conn)
            if i < 4:
                return m.orgs.create("Contested", external_id=external)
            org = m.orgs.fetch_by_external_id(external)
            if i < 8:
                return m.orgs.delete(org.org_id)
            return m.members.add(org.org_id, people[i - 8], "Member")

    for _round in range(5):
        results = in_parallel(16, work)
        created = [r for r in results[:4] if not isinstance(r, Exception)]
        deleted = [r for r in results[4:8] if not isinstance(r, Exception)]
        # a second create can only win after a delete committed in between
        assert 1 <= len(created) <= 1 + len(deleted)
        live = superuser.execute(
            "SELECT count(*) FROM tenantkit.orgs WHERE external_id = %s", (external,)
        ).fetchone()
        assert live is not None and live[0] == len(created) - len(deleted)
        for error in (r for r in results if isinstance(r, Exception)):
            assert isinstance(error, NotFound | Conflict), error
        # never an orphan: no membership, invite or key outlives its org
        orphans = superuser.execute(
            "SELECT count(*) FROM tenantkit.memberships m "
            "WHERE NOT EXISTS (SELECT 1 FROM tenantkit.orgs o WHERE o.org_id = m.org_id)"
        ).fetchone()
        assert orphans == (0,)
        with service() as m, contextlib.suppress(NotFound):
            m.orgs.delete(m.orgs.fetch_by_external_id(external).org_id)
