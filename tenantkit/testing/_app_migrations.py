"""The app's own Alembic migrations on the plugin's test database.

    # conftest.py
    from tenantkit.testing import alembic_migrations
    tenantkit_migrate_app = alembic_migrations("alembic.ini")

or the ini option `tenantkit_alembic_ini = "alembic.ini"`. pytest is imported
only when the fixture is made, so `import tenantkit.testing` needs no pytest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenantkit.testing.database import TestDatabase

__all__ = ["MigrateApp", "alembic_migrations", "upgrade_app"]

MigrateApp = Callable[[TestDatabase], None]


def alembic_migrations(ini: str | Path, revision: str = "head") -> Any:
    """A `tenantkit_migrate_app` fixture running the app's Alembic migrations (one line).

        # conftest.py
        from tenantkit.testing import alembic_migrations
        tenantkit_migrate_app = alembic_migrations("alembic.ini")

    The env.py must take its URL from `sqlalchemy.url` (Alembic's templates do)
    or from `config.attributes["connection"]`; the roles arrive as
    `config.attributes["tenantkit_roles"]`, which `tenantkit.alembic.options()` reads.
    """
    import pytest

    @pytest.fixture(scope="session")
    def tenantkit_migrate_app(request: pytest.FixtureRequest) -> MigrateApp:
        path = Path(request.config.rootpath) / ini  # an absolute `ini` stays as it is
        return lambda db: upgrade_app(db, path, revision)

    return tenantkit_migrate_app


def upgrade_app(db: TestDatabase, ini: Path, revision: str = "head") -> None:
    """Run the app's Alembic migrations (`ini`) on `db` as its owner."""
    from alembic import command
    from alembic.config import Config

    if not ini.is_file():
        raise FileNotFoundError(f"tenantkit: no Alembic config at {ini.resolve()}")
    config = Config(str(ini))
    url = db.url("owner").render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["tenantkit_roles"] = db.roles
    command.upgrade(config, revision)
