"""The installer refuses tenant sessions on roles that could bypass RLS."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

import tenantkit
from tenantkit import UnsafeConnection, tenant_context
from tenantkit.db import _connection as binding
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
    with pytest.raises(UnsafeConnection, match=r"can become .*, which owns a table with row-level"):
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
    tenantkit_db: TestDatabase, notes: TwoOrgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = tenantkit.create_engine(tenantkit_db.url("app"), pool_size=1, max_overflow=0)
    calls: list[str] = []
    original = binding._TenantBinding._first_use

    def counted(self: Any) -> Any:
        calls.append("check")
        return original(self)

    monkeypatch.setattr(binding._TenantBinding, "_first_use", counted)
    try:
        for org in (notes.a, notes.b, notes.a, None):
            ctx = org.context(org.owner_id) if org else None
            with tenant_context(ctx), engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                conn.commit()
        assert calls == ["check"]
    finally:
        engine.dispose()


def _grant(db: TestDatabase, role: str, member: str, option: str = "") -> None:
    _admin(db, sql.SQL("GRANT {} TO {} " + option).format(
        sql.Identifier(role), sql.Identifier(member)))


def _use_unbound(url: sa.URL, set_role: str | None = None) -> set[str]:
    # No context at all: the gate must refuse this too (a role that bypasses RLS
    # would read every org's rows unbound).
    engine = tenantkit.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            if set_role:
                conn.exec_driver_sql(f'SET ROLE "{set_role}"')
            return {r[0] for r in conn.execute(sa.text(
                "SELECT DISTINCT org_id::text FROM public.notes"))}
    finally:
        engine.dispose()


@pytest.fixture
def chain(tenantkit_db: TestDatabase) -> Iterator[list[str]]:
    """Two NOLOGIN roles, dropped afterwards: the links of a membership chain."""
    names = [f"tk_link{i}_{secrets.token_hex(3)}" for i in range(2)]
    for name in names:
        _admin(tenantkit_db, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    yield names
    for name in names:
        _admin(tenantkit_db, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        _admin(tenantkit_db, sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("dangerous", ["superuser", "bypassrls", "owner"])
def test_a_chain_of_memberships_to_a_dangerous_role_is_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str],
    chain: list[str], dangerous: str,
) -> None:
    # login role -> link0 -> link1 -> a role that bypasses RLS (SET ROLE reaches it).
    name, password = extra_role
    if dangerous == "owner":
        target = tenantkit_db.owner
    else:
        target = chain[1]
        _admin(tenantkit_db, sql.SQL("ALTER ROLE {} " + dangerous.upper()).format(
            sql.Identifier(target)))
    _grant(tenantkit_db, chain[0], name)
    if target != chain[1]:
        _grant(tenantkit_db, chain[1], chain[0])
        _grant(tenantkit_db, target, chain[1])
    else:
        _grant(tenantkit_db, target, chain[0])
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match=f"can become {target}"):
        _bind_as(url, notes)
    with pytest.raises(UnsafeConnection):
        _use_unbound(url)


def test_admin_option_counts_as_reachable(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str]
) -> None:
    # WITH ADMIN OPTION (and, on 16+, no INHERIT or SET): it can grant itself the role.
    name, password = extra_role
    option = "WITH ADMIN OPTION"
    if _server_version(tenantkit_db) >= 160000:
        option = "WITH ADMIN TRUE, INHERIT FALSE, SET FALSE"
    _grant(tenantkit_db, tenantkit_db.owner, name, option)
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match="owns a table with row-level security"):
        _bind_as(url, notes)


@pytest.mark.parametrize("predefined", ["pg_read_server_files", "pg_execute_server_program"])
def test_roles_that_reach_the_servers_files_are_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str], predefined: str
) -> None:
    name, password = extra_role
    _grant(tenantkit_db, predefined, name)
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match=predefined):
        _bind_as(url, notes)


def test_replication_role_is_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str]
) -> None:
    name, password = extra_role
    _admin(tenantkit_db, sql.SQL("ALTER ROLE {} REPLICATION").format(sql.Identifier(name)))
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match="REPLICATION"):
        _bind_as(url, notes)


def test_createrole_before_16_is_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str]
) -> None:
    name, password = extra_role
    _admin(tenantkit_db, sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(name)))
    url = tenantkit_db.url("admin").set(username=name, password=password)
    if _server_version(tenantkit_db) < 160000:
        with pytest.raises(UnsafeConnection, match="CREATEROLE"):
            _bind_as(url, notes)
    else:  # 16+: CREATEROLE administers only the roles it created
        assert _bind_as(url, notes) == 1


def test_unbound_work_on_a_bypassrls_connection_is_refused(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str]
) -> None:
    name, password = extra_role
    _admin(tenantkit_db, sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(name)))
    _admin(tenantkit_db, sql.SQL("GRANT SELECT ON public.notes TO {}").format(
        sql.Identifier(name)))
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with pytest.raises(UnsafeConnection, match="BYPASSRLS"):
        _use_unbound(url)


def test_without_the_gate_set_role_reads_every_org(
    tenantkit_db: TestDatabase, notes: TwoOrgs, extra_role: tuple[str, str],
    chain: list[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The attack the chain check stops: a login role that may SET ROLE to a
    # BYPASSRLS role reads every org, bound or not. With the gate answering
    # "safe", it works; so the tests above would fail without the check.
    name, password = extra_role
    _admin(tenantkit_db, sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(chain[0])))
    _admin(tenantkit_db, sql.SQL("GRANT SELECT ON public.notes TO {}").format(
        sql.Identifier(chain[0])))
    _grant(tenantkit_db, chain[0], name)
    monkeypatch.setattr(binding, "SAFETY", b"SELECT NULL::text WHERE $1::text[] IS NULL")
    url = tenantkit_db.url("admin").set(username=name, password=password)
    with psycopg.connect(tenantkit_db.conninfo("admin")) as admin:
        every_org = {r[0] for r in admin.execute("SELECT DISTINCT org_id::text FROM public.notes")}
    assert {notes.a.org_id, notes.b.org_id} <= every_org
    assert _use_unbound(url, set_role=chain[0]) == every_org


def _server_version(db: TestDatabase) -> int:
    with psycopg.connect(db.conninfo("admin")) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        return int(row[0])


def test_non_psycopg_engine_is_refused() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(tenantkit.BindingError, match="psycopg"):
        tenantkit.install(engine)
