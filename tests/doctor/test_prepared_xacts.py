"""Check 16: two-phase commit enabled is a warning.

The positive case needs a server started with max_prepared_transactions > 0:
tests/db/test_threat_model.py runs the doctor on one, next to what it measures.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantkit.doctor._checks import prepared_xacts_finding
from tenantkit.testing import TestDatabase
from tests.doctor.helpers import of_check


@pytest.mark.nodb
def test_finding_follows_max_prepared_transactions() -> None:
    assert prepared_xacts_finding(0) is None
    finding = prepared_xacts_finding(4)
    assert finding is not None
    assert (finding.check, finding.severity, finding.object) == (
        "prepared-xacts",
        "warning",
        "server",
    )
    assert "ROLLBACK PREPARED" in finding.problem
    assert finding.fix.startswith("ALTER SYSTEM SET max_prepared_transactions = 0;")


def test_this_server(admin_engine: sa.Engine, tenantkit_db: TestDatabase) -> None:
    with admin_engine.connect() as conn:
        setting = int(conn.execute(sa.text("SHOW max_prepared_transactions")).scalar_one())
        found = of_check(conn, tenantkit_db, "prepared-xacts")
    assert found == ([] if setting == 0 else [prepared_xacts_finding(setting)])
