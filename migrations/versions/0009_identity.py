"""tenantkit identity: users' provider ids, and the webhook sync's idempotency and order.

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0009_identity.sql")


def downgrade() -> None:
    run_sql_files("0009_identity_downgrade.sql")
