"""tenantkit signed binding: the bound ids count only with the app's signature over them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from tenantkit.migrate import run_sql_files

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_files("0006_signed_binding.sql", "0006_signed_binding_views.sql")


def downgrade() -> None:
    run_sql_files("0006_signed_binding_downgrade.sql")
