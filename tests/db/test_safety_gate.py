"""The installer refuses tenant sessions on roles that could bypass RLS."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

import tenantkit
from tenantkit import UnsafeConnection, tenant_context
from tenantkit.testing import TestDatabase, TwoOrgs


@pytest.fixture
def extra_role(tenantkit_db: TestDatabase) -> Iterator[tuple[str, str]]:
    """A throwaway LOGIN role (name, password), dropped afterwards."""
    name, password = f"tk_probe_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA tenantkit TO {}").format(sql.Identifier(name)))
    yield name, password
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _admin(db: TestDatabase, statement: sql.Composable) -> None:
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(statement)


def _bind_as(url: sa.URL, orgs: TwoOrgs) -> int:
    engine = tenantkit.create_engine(url, poolclass=sa.NullPool)
    try:
        with tenant_context(orgs.a.context(orgs.a.owner_id)), engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT 1")).scalar_one())
    finally:
        engine.dispose()


def test_app_role_is_accepted(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    assert _bind_as(tenantkit_db.url("app"), notes) == 1


def test_superuser_is_refused(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    with pytest.raises(UnsafeConnection, match="superuser"):
        _bind_as(tenantkit_db.url("admin"), notes)


def test_owner_of_tenant_tables_is_refused(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    with pytest.raises(UnsafeConnection, match="owns a table with row-level security"):
        _bind_as(tenantkit_db.url("owner"), notes)


def test_bypassrls_role_is_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str]
) -> None:
    name, password = extra_role
    _admin(tenantkit_db, sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(name)))
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match="BYPASSRLS"):
        _bind_as(url, notes)


def test_member_of_owner_is_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str]
) -> None:
    name, password = extra_role
    _admin(
        tenantkit_db,
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(tenantkit_db.owner), sql.Identifier(name)),
    )
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match="member of the owner"):
        _bind_as(url, notes)


def test_session_user_is_checked_after_set_role(tenantkit_db: TestDatabase, notes: TwoOrgs) -> None:
    # A superuser that SET ROLEs to the app role could RESET ROLE later: refused.
    engine = tenantkit.create_engine(tenantkit_db.url("admin"), poolclass=sa.NullPool)

    @sa.event.listens_for(engine, "connect")
    def set_role(dbapi_connection: psycopg.Connection[object], record: object) -> None:
        dbapi_connection.execute(f'SET ROLE "{tenantkit_db.roles.app}"')
        dbapi_connection.commit()

    try:
        with (
            pytest.raises(UnsafeConnection, match="superuser"),
            tenant_context(notes.a.context(notes.a.owner_id)),
            engine.connect() as conn,
        ):
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def test_check_runs_once_per_physical_connection(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    calls: list[str] = []

    @sa.event.listens_for(engine, "connect")
    def track(dbapi_connection: psycopg.Connection[object], record: object) -> None:
        original = dbapi_connection._check_safety  # type: ignore[attr-defined]

        def counted() -> object:
            calls.append("check")
            return original()

        dbapi_connection._check_safety = counted  # type: ignore[attr-defined]

    try:
        for org in (notes.a, notes.b, notes.a):
            with tenant_context(org.context(org.owner_id)), engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                conn.commit()
        assert calls == ["check"]
    finally:
        engine.dispose()


def test_non_psycopg_engine_is_refused() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(tenantkit.BindingError, match="psycopg"):
        tenantkit.install(engine)
