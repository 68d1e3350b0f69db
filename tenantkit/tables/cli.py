"""`tenantkit policies`: print the SQL that makes the declared tables tenant tables.

For review, and for teams without Alembic: run it after the tables exist.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import Any

import click
from sqlalchemy import MetaData, Table

from tenantkit.rls import TableName, TenancySpec, tenancy_script
from tenantkit.sqlfiles import DatabaseRoles
from tenantkit.tables._distribute import Target
from tenantkit.tables.declare import (
    Declaration,
    SharedTable,
    UndeclaredTenantTable,
    check_declared,
    declarations,
    table_of,
)

__all__ = [
    "distribute_command",
    "load_declarations",
    "load_sources",
    "policies_command",
    "tables_of",
]


def _sources(obj: Any) -> list[MetaData | Table | type]:
    if isinstance(obj, MetaData | Table):
        return [obj]
    if isinstance(getattr(obj, "metadata", None), MetaData):
        return [obj.metadata]
    if isinstance(getattr(obj, "__table__", None), Table):
        return [obj]
    return []


def load_declarations(targets: Iterable[str]) -> dict[TableName, Declaration]:
    """Declarations from `module` or `module:attribute` names.

    A bare module is searched for MetaData objects and declarative bases; an
    attribute may be a MetaData, a declarative base, a Table or a mapped class.
    """
    return declarations(*load_sources(targets))


def tables_of(sources: Iterable[MetaData | Table | type]) -> list[Table]:
    """Every table of `sources`, once each."""
    tables: dict[int, Table] = {}
    for source in sources:
        found = source.tables.values() if isinstance(source, MetaData) else [table_of(source)]
        tables.update((id(t), t) for t in found)
    return list(tables.values())


def load_sources(targets: Iterable[str]) -> list[MetaData | Table | type]:
    """The MetaData, tables and models named by `module[:attribute]` targets."""
    # Like alembic and uvicorn: modules of the project in the working directory import.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    sources: list[MetaData | Table | type] = []
    for target in targets:
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
        if attribute:
            obj: Any = module
            for part in attribute.split("."):
                obj = getattr(obj, part, None)
            found = _sources(obj)
            if not found:
                raise click.BadParameter(f"{target} is not a MetaData, Table or model")
            sources += found
        else:
            for value in vars(module).values():
                sources += _sources(value)
    return list({id(s): s for s in sources}.values())


@click.command("policies")
@click.option(
    "--models",
    "models",
    multiple=True,
    required=True,
    metavar="MODULE[:ATTR]",
    help="Where the declarations are (e.g. myapp.models or myapp.db:Base); repeatable.",
)
@click.option(
    "--app-role",
    default=DatabaseRoles.app,
    show_default=True,
    help="The role the policies apply to.",
)
@click.option("--table", "tables", multiple=True, help="Only these tables; repeatable.")
def policies_command(models: tuple[str, ...], app_role: str, tables: tuple[str, ...]) -> None:
    """Print the RLS SQL (policies, grants, default, trigger) of declared tenant tables."""
    sources = load_sources(models)
    try:
        check_declared(tables_of(sources))
    except UndeclaredTenantTable as exc:
        raise click.ClickException(str(exc)) from exc
    found = declarations(*sources)
    selected = sorted(
        (item for item in found.items() if not tables or _matches(item[0], tables)),
        key=lambda item: str(item[0]),
    )
    if not selected:
        raise click.ClickException("no declared tables found in " + ", ".join(models))
    for name, declaration in selected:
        if isinstance(declaration, SharedTable):
            click.echo(f"-- {name}: shared, not tenant-scoped ({declaration.reason})\n")
            continue
        assert isinstance(declaration, TenancySpec)
        click.echo(f"-- {name}: tenant table, tenant column {declaration.tenant_column}")
        click.echo(tenancy_script(name, declaration, role=app_role))


def _matches(name: TableName, wanted: tuple[str, ...]) -> bool:
    return name.name in wanted or str(name) in wanted


@click.command("distribute")
@click.option(
    "--database-url",
    envvar="TENANTKIT_DATABASE_URL",
    help="The Citus coordinator, as the tables' owner (default: $TENANTKIT_DATABASE_URL).",
)
@click.option(
    "--models",
    "models",
    multiple=True,
    required=True,
    metavar="MODULE[:ATTR]",
    help="Where the declarations are (e.g. myapp.models or myapp.db:Base); repeatable.",
)
@click.option("--table", "tables", multiple=True, help="Only these tables; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the statements; change nothing.")
def distribute_command(
    database_url: str | None, models: tuple[str, ...], tables: tuple[str, ...], dry_run: bool
) -> None:
    """Distribute declared tenant tables by their tenant column on Citus (co-located),
    and make declared shared tables reference tables. Idempotent: run it after
    every `alembic upgrade`."""
    import sqlalchemy

    from tenantkit.migrate import normalize_url
    from tenantkit.tables._distribute import DistributionError, distribute, plan_distribution

    if not database_url:
        raise click.UsageError("pass --database-url or set TENANTKIT_DATABASE_URL")
    sources = load_sources(models)
    every = tables_of(sources)
    try:
        check_declared(every)
    except UndeclaredTenantTable as exc:
        raise click.ClickException(str(exc)) from exc
    targets = _distribution_targets(every, tables)
    if not targets:
        raise click.ClickException("no declared tables found in " + ", ".join(models))
    engine = sqlalchemy.create_engine(normalize_url(database_url), poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as conn:
            try:
                steps = (plan_distribution if dry_run else distribute)(conn, targets)
            except DistributionError as exc:
                raise click.ClickException(str(exc)) from exc
            conn.commit()
    finally:
        engine.dispose()
    if not steps:
        click.echo("nothing to do: every declared table is placed as declared")
    for step in steps:
        click.echo(f"-- {step.table}: {step.action}\n{step.sql};" if dry_run else
                   f"{step.table}: {step.action}")


def _distribution_targets(every: list[Table], wanted: tuple[str, ...]) -> list[Target]:
    from sqlalchemy.sql.ddl import sort_tables

    from tenantkit.tables._distribute import NotDeclared, targets_of

    # Foreign-key order: a referenced table is placed before the tables pointing at it.
    targets = targets_of(sort_tables(every))
    if not wanted:
        return targets
    unknown = [w for w in wanted if not any(_matches(t.table, (w,)) for t in targets)]
    if unknown:
        error = NotDeclared(
            f"{', '.join(unknown)}: not a declared table in the models; declare it with "
            "tenant_table(...) or shared_table(..., reason=...)"
        )
        raise click.ClickException(str(error))
    return [t for t in targets if _matches(t.table, wanted)]
