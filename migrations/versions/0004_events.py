"""tenantkit events: a transactional outbox, webhook endpoints and their delivery state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0004_events.sql")


def downgrade() -> None:
    run_sql_files("0004_events_downgrade.sql")
