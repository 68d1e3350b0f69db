"""The example's Alembic environment: migrated database and models agree, and it is safe."""

from __future__ import annotations

import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import tenantkit.alembic
from examples.notes.models import Base
from tenantkit.testing import TestDatabase, assert_tenant_safe


def test_autogenerate_finds_nothing_to_do(notes_db: TestDatabase) -> None:
    engine = sqlalchemy.create_engine(notes_db.url("owner"))
    try:
        with engine.connect() as conn:
            options = tenantkit.alembic.options(roles=notes_db.roles)
            context = MigrationContext.configure(
                connection=conn, opts={"target_metadata": Base.metadata, **options}
            )
            assert compare_metadata(context, Base.metadata) == []
            conn.rollback()
    finally:
        engine.dispose()


def test_database_is_tenant_safe(notes_db: TestDatabase) -> None:
    engine = sqlalchemy.create_engine(notes_db.url("owner"))
    try:
        assert_tenant_safe(
            engine,
            app_role=notes_db.roles.app,
            metadata=Base.metadata,
            allow=["server-version"],  # the run's server may be an older minor
        )
    finally:
        engine.dispose()
