"""A fresh database per test run, with tenantkit's three roles.

- owner: owns the database and every table, runs the migrations;
- app: LOGIN, NOSUPERUSER, NOBYPASSRLS, not the owner and not a member of it;
- service: cross-tenant backend work, through explicit policies (no BYPASSRLS).

Role names carry a random suffix, so runs sharing one server never collide.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from tenantkit.sqlfiles import DatabaseRoles
from tenantkit.testing.servers import RunningServer

if TYPE_CHECKING:
    from tenantkit.db.signing import BindingKey

__all__ = ["TestDatabase", "libpq_conninfo", "provision_database"]

RoleName = Literal["admin", "owner", "app", "service"]

# Throwaway servers only: durability buys nothing in a test run.
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass
class TestDatabase:
    """One database on a running server, with its roles and their URLs."""

    __test__ = False  # not a pytest test class

    server: RunningServer
    name: str
    owner: str
    roles: DatabaseRoles
    password: str

    def url(self, role: RoleName = "app") -> URL:
        """SQLAlchemy URL (psycopg 3) connecting as `role` to this database."""
        base = self.server.admin_url.set(database=self.name)
        if role == "admin":
            return base
        username = {"owner": self.owner, "app": self.roles.app, "service": self.roles.service}[role]
        return base.set(username=username, password=self.password)

    def conninfo(self, role: RoleName = "app") -> str:
        """libpq connection string for psycopg, connecting as `role`."""
        return libpq_conninfo(self.url(role))

    def drop(self) -> None:
        """Drop the database and its roles (a shared server keeps nothing)."""
        with psycopg.connect(_admin_conninfo(self.server), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.name)))
            for role in (self.roles.app, self.roles.service, self.owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def libpq_conninfo(url: URL) -> str:
    """`url` as quoted libpq key/value pairs, so any password survives."""
    # Not url.render_as_string(): it leaves spaces unescaped, and libpq refuses those.
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
    }
    params.update(url.query)  # e.g. host=<socket directory>, sslmode
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def _admin_conninfo(server: RunningServer) -> str:
    return libpq_conninfo(server.admin_url)


def provision_database(server: RunningServer) -> TestDatabase:
    """Create the roles and an empty database owned by the owner role."""
    suffix = secrets.token_hex(4)
    roles = DatabaseRoles(app=f"tk_app_{suffix}", service=f"tk_service_{suffix}")
    db = TestDatabase(
        server=server,
        name=f"tenantkit_test_{suffix}",
        owner=f"tk_owner_{suffix}",
        roles=roles,
        password=secrets.token_urlsafe(16),
    )
    with psycopg.connect(_admin_conninfo(server), autocommit=True) as conn:
        if server.throwaway:
            for name, value in _FAST_SETTINGS.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )
            conn.execute("SELECT pg_reload_conf()")
        for role in (db.owner, roles.app, roles.service):
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS NOCREATEROLE "
                    "NOCREATEDB"
                ).format(sql.Identifier(role), sql.Literal(db.password))
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(db.name), sql.Identifier(db.owner)
            )
        )
        # Temporary tables are session objects that outlive a request on a pooled
        # connection and shadow unqualified names: the app role gets none (doctor
        # asks for this). Only the owner keeps TEMPORARY, for migrations and doctor.
        conn.execute(
            sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db.name))
        )
        conn.execute(
            sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(db.name), sql.Identifier(db.owner)
            )
        )
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        # The app's own tables live in public, owned by the owner; PostgreSQL 15+
        # no longer lets every role create there, and older servers are aligned.
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(
                sql.Identifier(roles.app), sql.Identifier(roles.service)
            )
        )
    return db


def enable_signed_binding(db: TestDatabase, key: BindingKey) -> None:
    """Store `key`'s verifier in `db` and turn signed binding on (as the owner)."""
    from tenantkit.db.signing import add_key, set_signing

    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        add_key(conn, key)
        set_signing(conn, True)


def configure_signing(db: TestDatabase, key: BindingKey | None) -> None:
    """Signed binding in `db` as the run chose (the `binding_key` fixture): on with
    `key`, or explicitly off for an unsigned run (a fresh install signs by default,
    and an engine without a key is refused there)."""
    from tenantkit.db.signing import set_signing

    if key is not None:
        enable_signed_binding(db, key)
        return
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        set_signing(conn, False)
