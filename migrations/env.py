"""Alembic environment for tenantkit's own schema.

Run through `tenantkit migrate`, or plain Alembic:

    alembic -c migrations/alembic.ini -x url=postgresql+psycopg://owner@host/db upgrade head

`-x app_role=... -x service_role=...` name the roles to grant to. The version
table is `tenantkit.alembic_version`, so it never collides with the app's.
A fresh install signs its bindings (migration 0013); `-x signed_binding=off`
is the explicit opt-out.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from tenantkit.migrate import SCHEMA, VERSION_TABLE, roles_from_options

config = context.config
x_args = context.get_x_argument(as_dictionary=True)
roles = config.attributes.get("tenantkit_roles") or roles_from_options(x_args)
url = (
    config.attributes.get("tenantkit_url")
    or x_args.get("url")
    or os.environ.get("TENANTKIT_DATABASE_URL")
    or config.get_main_option("sqlalchemy.url")
)

signed = config.attributes.get("tenantkit_signed_binding")
if signed is None:
    choice = x_args.get("signed_binding", "on")
    if choice not in ("on", "off"):
        raise SystemExit(f"-x signed_binding= takes on or off, not {choice!r}")
    signed = choice == "on"

common = {
    "version_table": VERSION_TABLE,
    "version_table_schema": SCHEMA,
    # One transaction for the whole run: migration 0013 tells a fresh install by it.
    "transaction_per_migration": False,
    "tenantkit_roles": roles,
    "tenantkit_signed_binding": signed,
}

if context.is_offline_mode():
    context.configure(
        url=url or "postgresql+psycopg://",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **common,
    )
    with context.begin_transaction():
        # The version table lives in the schema, so the schema comes first.
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        if not url:
            raise SystemExit("no database URL: pass -x url=... or set TENANTKIT_DATABASE_URL")
        engine = create_engine(url, poolclass=pool.NullPool)
        connection = engine.connect()
    with connection.begin():
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        context.configure(connection=connection, **common)
        context.run_migrations()
    if config.attributes.get("connection") is None:
        connection.close()
