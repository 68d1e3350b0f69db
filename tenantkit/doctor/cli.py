"""The `tenantkit doctor` command."""

from __future__ import annotations

import click
import sqlalchemy

from tenantkit.database_roles import DatabaseRoles
from tenantkit.doctor._findings import CHECKS, format_json, format_table
from tenantkit.doctor._run import run_checks
from tenantkit.migrate import normalize_url
from tenantkit.tables.cli import load_declarations

__all__ = ["doctor_command"]


@click.command("doctor")
@click.option(
    "--database-url",
    envvar="TENANTKIT_DATABASE_URL",
    help="Any role that can read the catalog (default: $TENANTKIT_DATABASE_URL).",
)
@click.option(
    "--app-role",
    default=DatabaseRoles.app,
    show_default=True,
    help="The role that serves requests.",
)
@click.option(
    "--tenant-column",
    default="org_id",
    show_default=True,
    help="The column that marks an undeclared tenant table.",
)
@click.option(
    "--models",
    "models",
    multiple=True,
    metavar="MODULE[:ATTR]",
    help="Import declarations (tenant and shared tables); repeatable.",
)
@click.option(
    "--skip",
    multiple=True,
    type=click.Choice(list(CHECKS)),
    metavar="CHECK",
    help="A check id to skip; repeatable (see --list-checks).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
def doctor_command(
    database_url: str | None,
    app_role: str,
    tenant_column: str,
    models: tuple[str, ...],
    skip: tuple[str, ...],
    as_json: bool,
    list_checks: bool,
) -> None:
    """Audit a live database's tenant tables; exit 1 when any check finds an error.

    Errors: the app role can reach another org's rows, or bypass or change
    what binds it. Warnings: what PostgreSQL reveals despite the policies
    (indexes not led by the tenant column, two-phase commit), and slow policies.
    """
    if list_checks:
        for check in CHECKS.values():
            click.echo(f"{check.number:>2}  {check.id:<17} {check.summary}")
        return
    if not database_url:
        raise click.UsageError("pass --database-url or set TENANTKIT_DATABASE_URL")
    declarations = load_declarations(models) if models else None
    engine = sqlalchemy.create_engine(normalize_url(database_url), poolclass=sqlalchemy.NullPool)
    try:
        findings = run_checks(
            engine,
            app_role=app_role,
            tenant_column=tenant_column,
            declarations=declarations,
            skip=skip,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(format_json(findings) if as_json else format_table(findings), nl=False)
    if any(f.severity == "error" for f in findings):
        raise SystemExit(1)
