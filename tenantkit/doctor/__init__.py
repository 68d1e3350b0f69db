"""`tenantkit doctor`: audit a live database's tenant tables from its catalog.

    findings = run_checks(engine, app_role="tenantkit_app")

Nineteen checks (see `CHECKS`, the one registry, filled by `@check` where each
check is defined), one `Finding` per problem, each with a fix.
The same checks back `tenantkit.testing.safety.assert_tenant_safe` for CI.
The command itself is `tenantkit.doctor.cli` (it alone pulls in click and Alembic).
"""

# Importing the modules that define the checks registers them.
from tenantkit.doctor import checks, roles, setup  # noqa: F401
from tenantkit.doctor.findings import CHECKS, Check, Finding, Severity, format_json, format_table
from tenantkit.doctor.run import run_checks

__all__ = [
    "CHECKS",
    "Check",
    "Finding",
    "Severity",
    "format_json",
    "format_table",
    "run_checks",
]
