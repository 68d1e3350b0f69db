"""Fixtures of the doctor's tests: a superuser engine on the core suite's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tenantkit.testing import TestDatabase


@pytest.fixture(scope="session")
def admin_engine(tenantkit_db: TestDatabase) -> Iterator[sa.Engine]:
    """A superuser engine: broken setups are built on it inside rolled-back transactions."""
    engine = sa.create_engine(tenantkit_db.url("admin"), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def server_version(admin_engine: sa.Engine) -> int:
    with admin_engine.connect() as conn:
        return int(conn.execute(sa.text("SHOW server_version_num")).scalar_one())
