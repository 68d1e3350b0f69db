"""The app and service roles may read tenantkit's revision (the startup check).

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0008_startup.sql")


def downgrade() -> None:
    run_sql_files("0008_startup_downgrade.sql")
