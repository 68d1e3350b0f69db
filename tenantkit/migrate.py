"""Running tenantkit's own migrations: `tenantkit migrate`, and the Python API.

The migrations are ordinary Alembic revisions (in `migrations/`) that execute
the `.sql` files under `sql/`. They keep their own version table,
`tenantkit.alembic_version`, so they never collide with the app's Alembic.
Run them as the owner role; the app and service roles must already exist.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import click
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, make_url

from tenantkit.database_roles import DatabaseRoles
from tenantkit.db.signing import ENV_VAR, BindingSigner
from tenantkit.sqlfiles import migrations_dir, render_sql

__all__ = [
    "SCHEMA",
    "VERSION_TABLE",
    "alembic_config",
    "downgrade",
    "head_revision",
    "migrate_and_sign",
    "render_install_sql",
    "roles_from_options",
    "run_sql_files",
    "run_sql_files_if_citus",
    "run_sql_files_on_coordinator",
    "sign_after_migrate",
    "upgrade",
]

SCHEMA = "tenantkit"
VERSION_TABLE = "alembic_version"
INSTALL_SQL_HEADER = (
    "-- tenantkit install.sql: rendered from the migrations by `tenantkit migrate --sql`\n"
    "-- (offline Alembic). Do not edit; a test fails when it is stale.\n"
    "-- Roles: app = tenantkit_app, service = tenantkit_service. For other names run\n"
    "--   tenantkit migrate --sql --app-role NAME --service-role NAME > install.sql\n"
)


def normalize_url(url: str | URL) -> URL:
    """A SQLAlchemy URL on the psycopg 3 driver (plain `postgresql://` is accepted)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername != "postgresql+psycopg":
        raise click.BadParameter(
            f"tenantkit needs PostgreSQL through psycopg 3, not {parsed.drivername!r}"
        )
    return parsed


def roles_from_options(options: Mapping[str, str]) -> DatabaseRoles:
    """Roles from `-x app_role=... -x service_role=...` (defaults otherwise)."""
    defaults = DatabaseRoles()
    return DatabaseRoles(
        app=options.get("app_role", defaults.app),
        service=options.get("service_role", defaults.service),
    )


def alembic_config(
    *,
    url: str | URL | None = None,
    connection: Connection | None = None,
    roles: DatabaseRoles | None = None,
    signed_binding: bool = True,
) -> Config:
    """An Alembic `Config` for tenantkit's migrations (no alembic.ini needed).

    signed_binding=False is the install-time opt-out: a fresh install then binds
    unsigned (migration 0013 leaves `settings.signed_binding` off).
    """
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["tenantkit_roles"] = roles or DatabaseRoles()
    config.attributes["tenantkit_signed_binding"] = signed_binding
    if url is not None:
        config.attributes["tenantkit_url"] = normalize_url(url).render_as_string(
            hide_password=False
        )
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The head revision of tenantkit's own migrations."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("tenantkit's migrations have no head revision")
    return head


def upgrade(
    url_or_connection: str | URL | Connection,
    *,
    roles: DatabaseRoles | None = None,
    revision: str = "head",
    signed_binding: bool = True,
) -> None:
    """Upgrade tenantkit's schema to `revision`, in one transaction.

    A fresh install (no tenantkit schema before) turns signed binding on
    (migration 0013): register a key next (`tenantkit.db.signing.add_key`, or
    `tenantkit keys binding add`), or every app connection is refused with a
    `BindingError` saying so. signed_binding=False opts out. An upgrade keeps
    the database's setting either way.
    """
    command.upgrade(_config_for(url_or_connection, roles, signed_binding), revision)


def downgrade(
    url_or_connection: str | URL | Connection,
    *,
    roles: DatabaseRoles | None = None,
    revision: str = "base",
) -> None:
    """Downgrade tenantkit's schema to `revision` (default: remove it)."""
    command.downgrade(_config_for(url_or_connection, roles), revision)


def render_install_sql(roles: DatabaseRoles | None = None, *, signed_binding: bool = True) -> str:
    """The SQL of every migration, rendered offline: `sql/install.sql`."""
    config = alembic_config(roles=roles, signed_binding=signed_binding)
    buffer = io.StringIO()
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    return INSTALL_SQL_HEADER + buffer.getvalue()


def _config_for(
    target: str | URL | Connection, roles: DatabaseRoles | None, signed_binding: bool = True
) -> Config:
    if isinstance(target, Connection):
        return alembic_config(connection=target, roles=roles, signed_binding=signed_binding)
    return alembic_config(url=target, roles=roles, signed_binding=signed_binding)


def run_sql_files(*names: str) -> None:
    """Execute `sql/<name>` files inside a migration, online or offline (`--sql`)."""
    from alembic import op

    context = op.get_context()
    roles: DatabaseRoles = context.opts["tenantkit_roles"]
    for name in names:
        sql = render_sql(name, roles)
        if context.as_sql:
            # Verbatim: text() would mistake regex classes like [:space:] for bind params.
            context.impl.static_output(sql.rstrip() + "\n")
        else:
            # Straight to psycopg: no parameters, so no placeholder parsing, and
            # several statements per call are allowed.
            driver_connection = op.get_bind().connection.driver_connection
            assert driver_connection is not None
            driver_connection.execute(sql)


def run_sql_files_on_coordinator(*names: str) -> None:
    """`run_sql_files` with Citus's DDL propagation off where the citus extension is
    installed: what these files define reads coordinator-only tables, so it stays on
    the coordinator (Citus would otherwise try to create it on the workers, where
    what it reads does not exist). 0014 then writes the Citus variants, which do
    propagate. Elsewhere, and offline, exactly `run_sql_files`."""
    from alembic import op

    context = op.get_context()
    if context.as_sql:
        run_sql_files(*names)
        return
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    row = driver_connection.execute(
        "SELECT pg_catalog.current_setting('citus.enable_ddl_propagation', true) "
        "FROM pg_catalog.pg_extension WHERE extname = 'citus'"
    ).fetchone()
    if row is None:
        run_sql_files(*names)
        return
    driver_connection.execute(
        "SELECT pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true)")
    run_sql_files(*names)
    driver_connection.execute(
        "SELECT pg_catalog.set_config('citus.enable_ddl_propagation', %s, true)",
        (row[0] or "on",))


#: The guard the offline script (`--sql`) puts around Citus-only SQL: the script
#: cannot ask the database, so the database decides when it runs.
_CITUS_GUARD = (
    "DO $tenantkit_citus$\nBEGIN\n"
    "    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN\n"
    "        EXECUTE $tenantkit_citus_sql$\n{sql}\n$tenantkit_citus_sql$;\n"
    "    END IF;\nEND\n$tenantkit_citus$;\n"
)


def run_sql_files_if_citus(*names: str) -> None:
    """`run_sql_files`, only where the citus extension is installed (online: asked
    now; offline: a guard in the script). Create the extension before `tenantkit
    migrate`: a database that gains it later needs these files run again."""
    from alembic import op

    context = op.get_context()
    if context.as_sql:
        roles: DatabaseRoles = context.opts["tenantkit_roles"]
        for name in names:
            sql = render_sql(name, roles).rstrip()
            context.impl.static_output(_CITUS_GUARD.format(sql=sql))
        return
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    row = driver_connection.execute(
        "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'"
    ).fetchone()
    if row is not None:
        run_sql_files(*names)


def _preflight(url: URL, roles: DatabaseRoles) -> bool:
    """Refuse missing roles with the statements that create them; warn a superuser.

    True when the database has no tenantkit schema yet (this run installs it).
    """
    from sqlalchemy import NullPool, create_engine

    from tenantkit.provision import facts, missing_roles_message, superuser_warning

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = facts(conn, roles)
    finally:
        engine.dispose()
    if found.missing:
        raise click.ClickException(missing_roles_message(found.missing, roles))
    if found.superuser:
        click.echo(superuser_warning(found), err=True)
    return not found.installed


def sign_after_migrate(url: URL, *, fresh: bool, signer: BindingSigner | None) -> None:
    """Register `signer`'s keys on a fresh install, and say where signing stands (stderr)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from tenantkit.db.signing_cli import sign_new_install

    # From the URL's parts, not its rendered string: a password with spaces or
    # reserved characters survives (libpq refuses a URI with a raw space).
    parts = {"host": url.host, "port": url.port, "dbname": url.database,
             "user": url.username, "password": url.password}
    conninfo = make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None},
                             **{k: str(v[-1] if isinstance(v, tuple) else v)
                                for k, v in url.query.items()})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        lines = sign_new_install(conn, fresh=fresh, signer=signer)
    for line in lines:
        click.echo(line, err=True)


def _binding_secret(text: str | None) -> BindingSigner | None:
    try:
        return BindingSigner.parse(text or "")
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--binding-secret") from exc


@click.command("migrate")
@click.option(
    "--database-url",
    envvar="TENANTKIT_DATABASE_URL",
    help="Owner role's URL (default: $TENANTKIT_DATABASE_URL).",
)
@click.option("--app-role", default=DatabaseRoles.app, show_default=True)
@click.option("--service-role", default=DatabaseRoles.service, show_default=True)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--downgrade", "down", is_flag=True, help="Downgrade to --revision (e.g. base).")
@click.option("--sql", "offline", is_flag=True, help="Print the SQL instead of running it.")
@click.option(
    "--binding-secret",
    envvar=ENV_VAR,
    default=None,
    help="A new install registers these binding keys (KEY_ID:SECRET[,...] or @file; "
    f"default: ${ENV_VAR}).",
)
@click.option(
    "--unsigned-binding",
    is_flag=True,
    help="A new install binds unsigned (the opt-out: SQL injection can then impersonate "
    "any member; doctor warns).",
)
def migrate_command(
    database_url: str | None,
    app_role: str,
    service_role: str,
    revision: str,
    down: bool,
    offline: bool,
    binding_secret: str | None,
    unsigned_binding: bool,
) -> None:
    """Create or upgrade tenantkit's schema (run as the owner role).

    A new install signs its bindings: the keys of --binding-secret (or
    TENANTKIT_BINDING_SECRET) are registered, or it says what to run. An
    existing install keeps its setting.
    """
    try:
        roles = DatabaseRoles(app=app_role, service=service_role)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if offline:
        click.echo(render_install_sql(roles, signed_binding=not unsigned_binding), nl=False)
        return
    if not database_url:
        raise click.UsageError("pass --database-url or set TENANTKIT_DATABASE_URL")
    url = normalize_url(database_url)
    if down:
        downgrade(url, roles=roles, revision=revision if revision != "head" else "base")
        click.echo(f"tenantkit schema downgraded to {revision if revision != 'head' else 'base'}")
        return
    signer = _binding_secret(binding_secret)
    migrate_and_sign(url, roles, signer, revision=revision, signed_binding=not unsigned_binding)


def migrate_and_sign(
    url: URL,
    roles: DatabaseRoles,
    signer: BindingSigner | None,
    *,
    revision: str = "head",
    signed_binding: bool = True,
) -> None:
    """`tenantkit migrate`'s work (also `tenantkit serve`'s): the preflight, the
    upgrade, then signed binding: a new install registers `signer`'s keys, or
    the owner is told what to run (stderr)."""
    fresh = _preflight(url, roles)
    upgrade(url, roles=roles, revision=revision, signed_binding=signed_binding)
    click.echo(f"tenantkit schema at {revision} on {url.render_as_string(hide_password=True)}")
    if not signed_binding and not fresh:
        click.echo("--unsigned-binding applies to a new install only: this database keeps "
                   "its setting", err=True)
    sign_after_migrate(url, fresh=fresh, signer=signer)
