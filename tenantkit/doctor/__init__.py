"""`tenantkit doctor`: audit a live database's tenant tables from its catalog.

    findings = run_checks(engine, app_role="tenantkit_app")

Twenty-one checks (see `CHECKS`, the one registry, filled by `@check` where each
check is defined), one `Finding` per problem, each with a fix.
The same checks back `tenantkit.testing._safety.assert_tenant_safe` for CI.
The command itself is `tenantkit.doctor.cli` (it alone pulls in click and Alembic).
"""

# Importing the modules that define the checks registers them.
# Imported for their @check registrations.
from tenantkit.doctor import _checks, _citus, _roles, _setup  # noqa: F401
from tenantkit.doctor._findings import CHECKS, Check, Finding, Severity, format_json, format_table
from tenantkit.doctor._run import run_checks

__all__ = [
    "CHECKS",
    "Check",
    "Finding",
    "Severity",
    "format_json",
    "format_table",
    "run_checks",
]
