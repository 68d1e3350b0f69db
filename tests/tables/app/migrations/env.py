"""Alembic environment of the fixture app: the two tenantkit lines are marked."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import tenantkit.alembic  # tenantkit line 1
from tests.tables.app.models import Base

config = context.config

if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        **tenantkit.alembic.options(),
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    engine = None
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
        connection = engine.connect()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        **tenantkit.alembic.options(),  # tenantkit line 2
    )
    with context.begin_transaction():
        context.run_migrations()
    if engine is not None:
        connection.close()
