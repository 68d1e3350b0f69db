"""What a migration run checks before it touches a tenant table, each as one clear line.

- tenantkit's schema exists (the app's migrations ran before `tenantkit migrate`
  otherwise fail with `schema "tenantkit" does not exist` and no hint);
- the environment's app role is the one tenantkit was migrated with (a typo
  would otherwise grant and apply policies to a role that serves nobody);
- the roles and permissions a policy names exist in some role mapping.

The errors are Alembic `CommandError`s: the `alembic` command prints them as one
`FAILED:` line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from alembic.util import CommandError
from sqlalchemy import Connection, text

from tenantkit.sqlfiles import load_sql
from tenantkit.tables.declare import UndeclaredTenantTable
from tenantkit.tables.names import UnknownRuleName, check_names, known_names

__all__ = [
    "TenancyMigrationError",
    "UndeclaredTenantTableError",
    "UnknownRuleNameError",
    "check_environment",
    "check_rule_names",
]

_CHECKED: Final = "tenantkit_preflight"


class TenancyMigrationError(CommandError):
    """A migration run cannot apply tenancy as configured (one line, with the fix)."""


class UndeclaredTenantTableError(UndeclaredTenantTable, CommandError):
    """`UndeclaredTenantTable`, as Alembic's command line reports it (one line)."""


class UnknownRuleNameError(UnknownRuleName, CommandError):
    """`UnknownRuleName`, as Alembic's command line reports it (one line)."""


def check_environment(conn: Connection, app_role: str) -> None:
    """Refuse a database without tenantkit's schema, or an app role it was not migrated for.

    Checked once per connection and app role.
    """
    if conn.info.get(_CHECKED) == app_role:
        return
    row = conn.execute(text(load_sql("catalog/tenantkit_roles.sql"))).one()
    if not row.has_schema:
        raise TenancyMigrationError(
            "tenantkit's schema is not in this database: run `tenantkit migrate "
            "--database-url ... --app-role ... --service-role ...` first, then your migrations"
        )
    migrated_for: list[str] = list(row.app_roles)
    if app_role not in migrated_for:
        found = ", ".join(repr(r) for r in migrated_for) or "no role"
        hint = migrated_for[0] if len(migrated_for) == 1 else "NAME"
        raise TenancyMigrationError(
            f"the app role {app_role!r} of this Alembic environment is not the one tenantkit "
            f"was migrated with ({found}): pass `-x app_role={hint}`, set "
            f"TENANTKIT_APP_ROLE={hint}, or set config.attributes['tenantkit_roles']"
        )
    conn.info[_CHECKED] = app_role


def check_rule_names(conn: Connection, where: str, sqls: Iterable[str | None]) -> None:
    """Refuse a policy whose SQL names a role or permission no role mapping has."""
    try:
        check_names(where, sqls, known_names(conn))
    except UnknownRuleName as exc:
        raise UnknownRuleNameError(str(exc)) from None
