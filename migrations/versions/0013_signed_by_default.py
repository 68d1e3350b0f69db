"""tenantkit signed binding by default: a fresh install signs; an upgrade keeps its setting.

Revision ID: 0013
Revises: 0011 (the integrator rechains it; it depends on 0006 only)
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from tenantkit.migrate import run_sql_files_on_coordinator

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The install-time opt-out (`tenantkit migrate --unsigned-binding`,
    # `-x signed_binding=off`, `upgrade(..., signed_binding=False)`): not run.
    if op.get_context().opts.get("tenantkit_signed_binding", True):
        run_sql_files_on_coordinator("0013_signed_by_default.sql")


def downgrade() -> None:
    # Nothing to undo in the catalog: the setting is data, and whoever runs the
    # downgrade keeps it (`tenantkit keys binding disable` turns it off).
    pass
