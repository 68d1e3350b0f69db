"""`tenantkit doctor`: audit a live database's tenant tables from its catalog.

    findings = run_checks(engine, app_role="tenantkit_app")

Sixteen checks (see `CHECKS`), one `Finding` per problem, each with a fix.
The same checks back `tenantkit.testing.safety.assert_tenant_safe` for CI.
The command itself is `tenantkit.doctor.cli` (it alone pulls in click and Alembic).
"""

from tenantkit.doctor.findings import CHECKS, Finding, Severity, format_json, format_table
from tenantkit.doctor.run import run_checks

__all__ = [
    "CHECKS",
    "Finding",
    "Severity",
    "format_json",
    "format_table",
    "run_checks",
]
