"""Where tenantkit's SQL and migrations live, and how role names enter them.

In a checkout they are the repo's top-level `sql/` and `migrations/`; in a
wheel they are packaged as `tenantkit/_sql` and `tenantkit/_migrations`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

# Still importable from here (tenantkit.alembic and tenantkit.tables do, and
# branches written before DatabaseRoles had its own module); it lives there now.
from tenantkit.database_roles import DatabaseRoles as DatabaseRoles

__all__ = ["load_sql", "migrations_dir", "render_sql", "sql_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tenantkit resources not found in: {', '.join(map(str, candidates))}")


@cache
def sql_dir() -> Path:
    """The directory holding tenantkit's `.sql` files."""
    return _first_existing(_PACKAGE / "_sql", _PACKAGE.parent / "sql")


@cache
def migrations_dir() -> Path:
    """The Alembic script directory of tenantkit's own schema."""
    return _first_existing(_PACKAGE / "_migrations", _PACKAGE.parent / "migrations")


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>`, e.g. `runtime/bind.sql`."""
    return (sql_dir() / name).read_text(encoding="utf-8")


def render_sql(name: str, roles: DatabaseRoles) -> str:
    """`sql/<name>` with @app_role@ and @service_role@ replaced by quoted role names."""
    return (
        load_sql(name)
        .replace("@app_role@", f'"{roles.app}"')
        .replace("@service_role@", f'"{roles.service}"')
    )
