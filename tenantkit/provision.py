"""The roles tenantkit grants to: noticing they are missing, and `tenantkit roles create`.

`tenantkit migrate` checks first (one clear error listing the exact `CREATE
ROLE` statements, instead of a 50-line traceback from the migration) and warns
when run as a superuser (tenantkit's objects would belong to it, not to the
owner the app's tables belong to).
"""

from __future__ import annotations

from dataclasses import dataclass

import click
from sqlalchemy import Connection, NullPool, create_engine, text

from tenantkit.database_roles import DatabaseRoles
from tenantkit.sqlfiles import load_sql

__all__ = ["Facts", "create_role_statements", "facts", "roles_command"]


@dataclass(frozen=True)
class Facts:
    """What `tenantkit migrate` needs to know before it starts."""

    role: str
    superuser: bool
    database_owner: str
    missing: tuple[str, ...]
    #: tenantkit's schema is installed already (its settings table exists).
    installed: bool = False


def facts(conn: Connection, roles: DatabaseRoles) -> Facts:
    row = conn.execute(
        text(load_sql("provision/connection_facts.sql")), {"roles": [roles.app, roles.service]}
    ).one()
    return Facts(
        row.role, bool(row.superuser), row.database_owner, tuple(row.missing), bool(row.installed)
    )


def create_role_statements(names: tuple[str, ...] | list[str]) -> list[str]:
    """The exact statements creating `names` as tenantkit needs them (no password set)."""
    # DatabaseRoles only admits plain lower-case identifiers: no quoting needed.
    return [
        f"CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;"
        for name in names
    ]


def missing_roles_message(missing: tuple[str, ...], roles: DatabaseRoles) -> str:
    statements = "\n".join("  " + s for s in create_role_statements(missing))
    return (
        f"the role(s) {', '.join(missing)} do not exist; create them as a superuser "
        f"(then set passwords with ALTER ROLE ... PASSWORD):\n{statements}\n"
        f"or run: tenantkit roles create --database-url <superuser URL> "
        f"--app-role {roles.app} --service-role {roles.service}"
    )


def superuser_warning(found: Facts) -> str:
    return (
        f"warning: migrating as the superuser {found.role}: tenantkit's objects will belong "
        f"to it; run tenantkit migrate as the owner ({found.database_owner}) instead"
    )


@click.group("roles")
def roles_command() -> None:
    """The app and service roles tenantkit grants to."""


@roles_command.command("create")
@click.option(
    "--database-url",
    envvar="TENANTKIT_DATABASE_URL",
    help="A superuser's (or CREATEROLE) URL (default: $TENANTKIT_DATABASE_URL).",
)
@click.option("--app-role", default=DatabaseRoles.app, show_default=True)
@click.option("--service-role", default=DatabaseRoles.service, show_default=True)
@click.option("--print", "only_print", is_flag=True, help="Print the statements, run nothing.")
def create_command(
    database_url: str | None, app_role: str, service_role: str, only_print: bool
) -> None:
    """Create the app and service roles that do not exist yet (LOGIN, no password)."""
    from tenantkit.migrate import normalize_url

    try:
        roles = DatabaseRoles(app=app_role, service=service_role)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if only_print:
        click.echo("\n".join(create_role_statements([roles.app, roles.service])))
        return
    if not database_url:
        raise click.UsageError("pass --database-url or set TENANTKIT_DATABASE_URL")
    engine = create_engine(normalize_url(database_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            missing = facts(conn, roles).missing
            for statement in create_role_statements(missing):
                conn.exec_driver_sql(statement)
                click.echo(statement)
    finally:
        engine.dispose()
    if not missing:
        click.echo(f"the roles {roles.app} and {roles.service} exist already")
    else:
        click.echo("set their passwords with ALTER ROLE <name> PASSWORD '...';")
