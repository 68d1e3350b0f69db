"""Fixtures of the Citus suite: a tenantkit database on the cluster, the app's tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit import migrate
from tenantkit.rls import TableName, TenancySpec, tenancy_statements
from tenantkit.tables import declaration_of
from tenantkit.testing import TestDatabase
from tenantkit.testing.citus import CitusCluster, provision_citus_database
from tests.citus.models import Base


@pytest.fixture(scope="module")
def citus_db(citus_cluster: CitusCluster) -> TestDatabase:
    """A fresh tenantkit database on the cluster (per module), migrated to head."""
    db = provision_citus_database(citus_cluster)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    return db


@pytest.fixture(scope="module")
def citus_owner(citus_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = sa.create_engine(citus_db.url("owner"), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def superuser(cluster: CitusCluster, db: TestDatabase) -> psycopg.Connection[tuple[object, ...]]:
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
        with superuser(citus_cluster, citus_db) as conn:
            return conn.execute(
                "SELECT partmethod::text, column_to_column_name(logicalrelid, partkey), "
                "colocationid, repmodel::text FROM pg_dist_partition "
                "WHERE logicalrelid = to_regclass(%s)",
                (table,),
            ).fetchone()

    return read
