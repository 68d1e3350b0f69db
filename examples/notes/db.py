"""Setting up the example's database: tenantkit's schema, then the app's migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL

from tenantkit import DatabaseRoles
from tenantkit import migrate as tenantkit_migrate

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(owner_url: str | URL, roles: DatabaseRoles) -> Config:
    """The example's Alembic config, migrating as the owner role for `roles.app`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    url = owner_url if isinstance(owner_url, str) else owner_url.render_as_string(False)
    config.attributes["url"] = url
    config.attributes["tenantkit_roles"] = roles  # whom the policies apply to
    return config


def migrate(owner_url: str | URL, roles: DatabaseRoles) -> None:
    """`tenantkit migrate` (its own schema and version table), then the notes tables.

    A new install signs its bindings: register the app's key next
    (`tenantkit keys binding add`, or `tenantkit.testing.configure_signing`).
    """
    tenantkit_migrate.upgrade(owner_url, roles=roles)
    command.upgrade(alembic_config(owner_url, roles), "head")
