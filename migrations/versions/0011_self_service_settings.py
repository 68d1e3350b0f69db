"""tenantkit self-service settings: end users edit domain settings and require_2fa_by
through doors that check their own rule; one reader of the bound org's invites.

Revision ID: 0011
Revises: 0009 (for now: 0010 and 0011 are other branches'; the merge rechains it,
    it depends on nothing they add)
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0011_self_service_settings.sql")


def downgrade() -> None:
    run_sql_files("0011_self_service_settings_downgrade.sql")
