"""tenantkit org API keys as request credentials: the key principal, checked live per statement.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0010_api_keys.sql")


def downgrade() -> None:
    run_sql_files("0010_api_keys_downgrade.sql")
