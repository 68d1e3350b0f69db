"""The core suite's database fixtures on the Citus cluster.

The fixtures `tests/db/test_membership_state.py` (and the plugin) build on, by the
same names, on a Citus database (coordinator + workers, `tenantkit migrate` on the
coordinator, signed binding on with the run's key) whose `public.notes` is
distributed by org: the shared tests run here unchanged
(`tests/citus/test_core_suite.py` collects them again), with the app engine binding
`set_local`, the mode whose values reach the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import tenantkit
from tenantkit import migrate
from tenantkit.db.signing import BindingKey
from tenantkit.rls import TableName, TenancySpec, tenancy_statements
from tenantkit.sqlfiles import render_sql
from tenantkit.tables import declaration_of
from tenantkit.testing import TestDatabase, TwoOrgs, configure_signing
from tenantkit.testing._seed import seed_two_orgs
from tenantkit.testing.citus import CitusCluster, provision_citus_database
from tests.citus.models import Base
from tests.citus.tables_app import policy_statements, table_statements
from tests.conftest import add_notes
from tests.tables.app.fixtures import AppData, _seed_org


def split_sql(script: str) -> list[str]:
    """The statements of a script without dollar quotes (comments dropped)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def refuse_claimed_gpid(db: TestDatabase) -> None:
    """The coordinator's login guard (README "Scaling out with Citus"), as deployed."""
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(render_sql("citus/refuse_claimed_gpid.sql", db.roles))


NOTES_SQL = Path(__file__).parent.parent / "sql" / "notes_citus.sql"


@pytest.fixture(scope="session")
def tenantkit_db(
    citus_cluster: CitusCluster, binding_key: BindingKey | None
) -> TestDatabase:
    db = provision_citus_database(citus_cluster)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    configure_signing(db, binding_key)  # an unsigned run opts out explicitly
    refuse_claimed_gpid(db)
    return db  # the cluster (and every database on it) goes with citus_cluster


@pytest.fixture(scope="session")
def owner_engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = sa.create_engine(tenantkit_db.url("owner"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def service_engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = sa.create_engine(tenantkit_db.url("service"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app_engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    """The app role's engine in the set_local mode (its SET LOCALs reach the workers)."""
    engine = tenantkit.create_engine(tenantkit_db.url("app"), binding="set_local", pool_size=3)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def config_engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    """The default (set_config) mode on the cluster: its binding never reaches a worker."""
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def app_sessions(app_engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(app_engine)


@pytest.fixture
def make_seed(service_engine: sa.Engine) -> Callable[[], TwoOrgs]:
    def make() -> TwoOrgs:
        with service_engine.begin() as conn:
            return seed_two_orgs(conn)

    return make


@pytest.fixture(scope="session")
def seed(service_engine: sa.Engine) -> TwoOrgs:
    with service_engine.begin() as conn:
        return seed_two_orgs(conn)


@pytest.fixture(scope="session")
def notes(tenantkit_db: TestDatabase, seed: TwoOrgs) -> TwoOrgs:
    ddl = NOTES_SQL.read_text().replace("@app_role@", f'"{tenantkit_db.roles.app}"')
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        # One statement at a time: Citus forwards a DDL statement's query string to
        # the workers, and a string of several is refused there.
        for statement in split_sql(ddl):
            conn.execute(statement)
    add_notes(tenantkit_db, seed)
    return seed


@pytest.fixture
def fresh_orgs(
    notes: TwoOrgs, make_seed: Callable[[], TwoOrgs], tenantkit_db: TestDatabase
) -> TwoOrgs:
    orgs = make_seed()
    add_notes(tenantkit_db, orgs)
    return orgs


@pytest.fixture
def superuser(tenantkit_db: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        yield conn


# --- the fixture app of tests/tables, distributed (tests/citus/tables_app.py) ---------


@pytest.fixture(scope="session")
def tables_db(citus_cluster: CitusCluster, binding_key: BindingKey | None) -> TestDatabase:
    db = provision_citus_database(citus_cluster)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    configure_signing(db, binding_key)  # an unsigned run opts out explicitly
    refuse_claimed_gpid(db)
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        for statement in (*table_statements(), *policy_statements(db.roles.app)):
            conn.execute(statement)
    return db


@pytest.fixture(scope="session")
def app_data(tables_db: TestDatabase) -> AppData:
    engine = sa.create_engine(tables_db.url("owner"), poolclass=sa.NullPool)
    with engine.begin() as conn:
        orgs = seed_two_orgs(conn)
    engine.dispose()
    with psycopg.connect(tables_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute("INSERT INTO plans (code, name) VALUES ('free', 'Free'), ('pro', 'Pro')")
        a = _seed_org(conn, orgs.a, "a")
        b = _seed_org(conn, orgs.b, "b")
        for table in ("documents", "comments", "projects", "plans"):
            conn.execute(f"ANALYZE {table}")  # one at a time: Citus refuses the list
    return AppData(a=a, b=b, shared_user_id=orgs.shared_user_id)


@pytest.fixture(scope="session")
def app_engine_t(tables_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(tables_db.url("app"), binding="set_local", pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def owner_engine_t(tables_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = sa.create_engine(tables_db.url("owner"), pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def su(tables_db: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(tables_db.conninfo("admin"), autocommit=True) as conn:
        yield conn


# --- tenant tables placed by tenantkit distribute (tests/citus/models.py) ------------


@pytest.fixture(scope="module")
def citus_db(citus_cluster: CitusCluster, binding_key: BindingKey | None) -> TestDatabase:
    """A fresh tenantkit database on the cluster (per module), migrated to head, signing
    as the run does."""
    db = provision_citus_database(citus_cluster)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    configure_signing(db, binding_key)
    return db


@pytest.fixture(scope="module")
def citus_owner(citus_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = sa.create_engine(citus_db.url("owner"), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def superuser_conn(
    cluster: CitusCluster, db: TestDatabase
) -> psycopg.Connection[tuple[object, ...]]:
    """The coordinator's superuser (outside RLS), autocommit."""
    return psycopg.connect(cluster.coordinator.conninfo(db.name), autocommit=True)


def create_app_tables(
    engine: sa.Engine, db: TestDatabase, metadata: sa.MetaData = Base.metadata
) -> None:
    """CREATE the app's tables and their tenancy (what `alembic upgrade` would do), local."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        for table in metadata.sorted_tables:
            spec = declaration_of(table)
            if isinstance(spec, TenancySpec):
                name = TableName(table.name, table.schema)
                for statement in tenancy_statements(name, spec, role=db.roles.app):
                    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
            else:
                conn.exec_driver_sql(f'GRANT SELECT ON {table.name} TO "{db.roles.app}"')


@pytest.fixture
def placement(
    citus_cluster: CitusCluster, citus_db: TestDatabase
) -> Callable[[str], tuple[object, ...] | None]:
    """Oracle: (method, distribution column, colocation id) of a table, from Citus's catalog."""

    def read(table: str) -> tuple[object, ...] | None:
        with superuser_conn(citus_cluster, citus_db) as conn:
            return conn.execute(
                "SELECT partmethod::text, column_to_column_name(logicalrelid, partkey), "
                "colocationid, repmodel::text FROM pg_dist_partition "
                "WHERE logicalrelid = to_regclass(%s)",
                (table,),
            ).fetchone()

    return read
