"""Fixtures of the fixture app: its own database and seeded rows (a pytest plugin).

A database of its own (not the core suite's), migrated with tenantkit's schema
and then with the fixture app's Alembic migrations (which tenantkit's
autogenerate wrote), and seeded with two orgs that both own documents, comments
and projects. The tables, alembic and doctor tests share it (`tests/conftest.py`
registers this module); doctor tests break its schema inside transactions they
roll back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

import tenantkit
from tenantkit import migrate
from tenantkit.db.signing import BindingKey
from tenantkit.testing import (
    RunningServer,
    SeededOrg,
    TestDatabase,
    configure_signing,
    provision_database,
)
from tenantkit.testing._seed import seed_two_orgs
from tests.tables.helpers import app_alembic_config

#: Extra documents per org, so plans are chosen on realistic statistics.
BULK_DOCUMENTS = 1500


@dataclass(frozen=True)
class OrgRows:
    """One seeded org and its named rows (ids as strings)."""

    org: SeededOrg
    documents: tuple[str, ...]
    titles: tuple[str, ...]
    comments: tuple[str, ...]
    projects: dict[str, str]  # slug -> id

    def ctx(self, role: str) -> tenantkit.TenantContext:
        """A context for this org's Owner, Admin or Member."""
        user = {"Owner": self.org.owner_id, "Admin": self.org.admin_id}.get(
            role, self.org.member_id
        )
        return self.org.context(user)


@dataclass(frozen=True)
class AppData:
    a: OrgRows
    b: OrgRows
    shared_user_id: str


@pytest.fixture(scope="session")
def tables_db(
    tenantkit_server: RunningServer, binding_key: BindingKey | None
) -> Iterator[TestDatabase]:
    """A fresh database: tenantkit's schema (signed binding on, as the plugin's), then
    the fixture app at head."""
    db = provision_database(tenantkit_server)
    try:
        migrate.upgrade(db.url("owner"), roles=db.roles)
        configure_signing(db, binding_key)  # signed as the run is (fresh installs sign)
        command.upgrade(app_alembic_config(db), "head")
        yield db
    finally:
        if not tenantkit_server.throwaway:
            db.drop()


def _seed_org(conn: psycopg.Connection[tuple[object, ...]], org: SeededOrg, letter: str) -> OrgRows:
    documents = tuple(str(uuid.uuid4()) for _ in range(3))
    titles = tuple(f"{letter}-secret-{i}" for i in range(3))
    comments = tuple(str(uuid.uuid4()) for _ in documents)
    for doc, title, comment in zip(documents, titles, comments, strict=True):
        conn.execute(
            "INSERT INTO documents (org_id, id, title) VALUES (%s, %s, %s)",
            (org.org_id, doc, title),
        )
        conn.execute(
            "INSERT INTO comments (org_id, id, document_id, author_id, body) "
            "VALUES (%s, %s, %s, %s, %s)",
            (org.org_id, comment, doc, org.member_id, f"comment on {title}"),
        )
    conn.execute(
        "INSERT INTO documents (org_id, title, created_at) "
        "SELECT %s, 'bulk ' || n, now() - n * interval '1 minute' "
        "FROM generate_series(1, %s) AS n",
        (org.org_id, BULK_DOCUMENTS),
    )
    projects = {}
    for slug in ("alpha", f"only-{letter}"):
        projects[slug] = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO projects (org_id, id, slug, plan_code) VALUES (%s, %s, %s, 'free')",
            (org.org_id, projects[slug], slug),
        )
    return OrgRows(org, documents, titles, comments, projects)


@pytest.fixture(scope="session")
def app_data(tables_db: TestDatabase) -> AppData:
    """Two orgs (Owner, Admin, Member each) with documents, comments and projects."""
    engine = sa.create_engine(tables_db.url("owner"), poolclass=sa.NullPool)
    with engine.begin() as conn:
        orgs = seed_two_orgs(conn)
    engine.dispose()
    # The app's rows go in as a superuser: outside RLS, like a data import.
    with psycopg.connect(tables_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute("INSERT INTO plans (code, name) VALUES ('free', 'Free'), ('pro', 'Pro')")
        a = _seed_org(conn, orgs.a, "a")
        b = _seed_org(conn, orgs.b, "b")
        conn.execute("ANALYZE documents, comments, projects, plans")
    return AppData(a=a, b=b, shared_user_id=orgs.shared_user_id)


@pytest.fixture(scope="session")
def app_engine_t(tables_db: TestDatabase) -> Iterator[sa.Engine]:
    """The app role with tenant binding, on the tables database."""
    engine = tenantkit.create_engine(tables_db.url("app"), pool_size=2, max_overflow=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def owner_engine_t(tables_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = sa.create_engine(tables_db.url("owner"), pool_size=2, max_overflow=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def admin_engine_t(tables_db: TestDatabase) -> Iterator[sa.Engine]:
    """A superuser engine on the tables database (doctor setups, oracle counts)."""
    engine = sa.create_engine(tables_db.url("admin"), pool_size=2, max_overflow=2)
    yield engine
    engine.dispose()


@pytest.fixture
def su(tables_db: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit superuser connection: the oracle that RLS does not filter."""
    with psycopg.connect(tables_db.conninfo("admin"), autocommit=True) as conn:
        yield conn
