"""tenantkit orgs: invite acceptance, self-service org creation, domain autojoin.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0002_orgs.sql")


def downgrade() -> None:
    run_sql_files("0002_downgrade.sql")
