"""Helpers shared by the tenant-tables tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy.exc import DBAPIError

from tenantkit import TenantContext, tenant_context
from tenantkit.testing import TestDatabase

MIGRATIONS = Path(__file__).parent / "app" / "migrations"


def app_alembic_config(db: TestDatabase) -> Config:
    """The fixture app's Alembic config for `db` (its roles passed as tenantkit_roles)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    url = db.url("owner").render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["tenantkit_roles"] = db.roles
    return config


@contextmanager
def acting(
    engine: sa.Engine, ctx: TenantContext | None, *, commit: bool = False
) -> Iterator[sa.Connection]:
    """One transaction as the app role, bound to `ctx`; rolled back unless `commit`."""
    with tenant_context(ctx), engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            raise
        if commit:
            transaction.commit()
        else:
            transaction.rollback()


@contextmanager
def refused(sqlstate: str) -> Iterator[list[psycopg.Error]]:
    """The block must fail with exactly `sqlstate`; yields a list that then holds the error."""
    caught: list[psycopg.Error] = []
    with pytest.raises((DBAPIError, psycopg.Error)) as info:
        yield caught
    error = info.value.orig if isinstance(info.value, DBAPIError) else info.value
    assert isinstance(error, psycopg.Error), error
    assert error.sqlstate == sqlstate, f"expected {sqlstate}, got {error.sqlstate}: {error}"
    caught.append(error)


def count(su: psycopg.Connection[tuple[object, ...]], table: str, org_id: str) -> int:
    """How many rows `org_id` really has in `table` (superuser: no RLS)."""
    row = su.execute(f"SELECT count(*) FROM {table} WHERE org_id = %s", (org_id,)).fetchone()
    assert row is not None
    return int(str(row[0]))


def snapshot(su: psycopg.Connection[tuple[object, ...]], table: str) -> list[tuple[Any, ...]]:
    """Every row of `table`, in a stable order (superuser: no RLS)."""
    return list(su.execute(f"SELECT * FROM {table} ORDER BY org_id, id").fetchall())


def scalar(conn: sa.Connection, sql: str, **params: Any) -> Any:
    return conn.execute(sa.text(sql), params).scalar()
