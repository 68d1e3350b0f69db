"""tenantkit policy probe: one verified principal (one signature check for users and keys)
and current_membership as a single SELECT over it, with no UNION ALL (issue 17).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files_on_coordinator

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files_on_coordinator("0012_policy_probe.sql")


def downgrade() -> None:
    run_sql_files_on_coordinator("0012_policy_probe_downgrade.sql")
