"""tenantkit on Citus: what the policy functions read is on every node.

Every database gets `binding_backend()` (the backend a signed binding is bound to).
With the citus extension present, the columns the policy functions read are mirrored
into owner-only reference tables, and the binding views and functions read them on
every node (sql/0014_citus_reference.sql; README "Scaling out with Citus"). Plain
PostgreSQL keeps every earlier definition unchanged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files, run_sql_files_if_citus

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0014_citus.sql")
    run_sql_files_if_citus("0014_citus_reference.sql")


def downgrade() -> None:
    # On Citus: the triggers and 0001's definitions back, then 0006's, 0010's and
    # 0012's views and functions from their own (re-runnable) files, then the mirrors go.
    run_sql_files_if_citus(
        "0014_citus_reference_downgrade.sql",
        "0006_signed_binding_views.sql",
        "0010_api_keys.sql",
        "0012_policy_probe.sql",
        "0014_citus_reference_drop.sql",
    )
    run_sql_files("0014_citus_downgrade.sql")
