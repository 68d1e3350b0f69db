"""tenantkit policy cost: the live membership check as a view the policies read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0005_policy_cost.sql")


def downgrade() -> None:
    run_sql_files("0005_policy_cost_downgrade.sql")
