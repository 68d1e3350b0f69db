"""tenantkit core: tables, functions, integrity triggers, grants and RLS.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0001"
down_revision = None
branch_labels = ("tenantkit",)
depends_on = None


def upgrade() -> None:
    run_sql_files("0001_tables.sql", "0001_functions.sql", "0001_triggers.sql", "0001_policies.sql")


def downgrade() -> None:
    run_sql_files("0001_downgrade.sql")
