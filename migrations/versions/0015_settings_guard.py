"""tenantkit settings guard: only the owner creates or removes the settings row (the
service role could otherwise re-insert it with signing off).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0015_settings_guard.sql")


def downgrade() -> None:
    run_sql_files("0015_settings_guard_downgrade.sql")
