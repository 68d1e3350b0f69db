"""tenantkit self-service: the end user's own orgs, declining invites, invite delivery state.

Revision ID: 0007
Revises: 0004 (rechained after 0005/0006 at merge; depends on nothing they add)
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0007_self_service.sql")


def downgrade() -> None:
    run_sql_files("0007_self_service_downgrade.sql")
