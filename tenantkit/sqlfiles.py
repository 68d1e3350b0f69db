"""Where tenantkit's SQL and migrations live, and how role names enter them.

In a checkout they are the repo's top-level `sql/` and `migrations/`; in a
wheel they are packaged as `tenantkit/_sql` and `tenantkit/_migrations`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["DatabaseRoles", "load_sql", "migrations_dir", "render_sql", "sql_dir"]

_PACKAGE = Path(__file__).resolve().parent
# Role names are spliced into DDL (GRANT ... TO, CREATE POLICY ... TO), so only
# plain lower-case identifiers are accepted; they never need quoting tricks.
_ROLE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class DatabaseRoles:
    """The two roles tenantkit's schema grants to (the owner is whoever migrates).

    app: serves end-user requests (LOGIN, NOSUPERUSER, NOBYPASSRLS, not the owner).
    service: cross-tenant backend work (org management on any org).
    """

    app: str = "tenantkit_app"
    service: str = "tenantkit_service"

    def __post_init__(self) -> None:
        for field, name in (("app", self.app), ("service", self.service)):
            if not _ROLE_RE.fullmatch(name):
                raise ValueError(
                    f"{field} role {name!r} must be a lower-case identifier "
                    "(letters, digits, underscore; at most 63 characters)"
                )
        if self.app == self.service:
            raise ValueError("the app and service roles must differ")


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
