"""tenantkit hardening: binding that nothing outlives, end users who cannot escalate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0003_binding.sql", "0003_own_tables.sql")


def downgrade() -> None:
    run_sql_files("0003_own_tables_downgrade.sql", "0003_binding_downgrade.sql")
