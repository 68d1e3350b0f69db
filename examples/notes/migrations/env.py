"""Alembic environment of the notes example; the two tenantkit lines are marked.

    alembic -c examples/notes/alembic.ini -x app_role=tenantkit_app upgrade head

The URL comes from `config.attributes["url"]` (see `examples.notes.db.migrate`)
or $NOTES_OWNER_DATABASE_URL: the owner role, which runs migrations.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

import tenantkit.alembic  # tenantkit line 1: ops, renderers, autogenerate
from examples.notes.models import Base

config = context.config
url = config.attributes.get("url") or os.environ["NOTES_OWNER_DATABASE_URL"]

if context.is_offline_mode():
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        **tenantkit.alembic.options(),
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            **tenantkit.alembic.options(),  # tenantkit line 2: app role, own schema excluded
        )
        with context.begin_transaction():
            context.run_migrations()
