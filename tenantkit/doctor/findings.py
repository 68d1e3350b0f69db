"""What the doctor reports: one `Finding` per problem, and the list of checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final, Literal

__all__ = ["CHECKS", "Finding", "Severity", "format_json", "format_table"]

Severity = Literal["error", "warning"]

#: check id -> (number in the issue, what it verifies)
CHECKS: Final[dict[str, tuple[int, str]]] = {
    "rls-force": (1, "tenant tables ENABLE and FORCE row-level security"),
    "tenant-policy": (2, "a RESTRICTIVE FOR ALL tenant policy with USING and WITH CHECK"),
    "true-policy": (3, "no policy on a tenant table is just `true`"),
    "app-role": (
        4,
        "the app role cannot bypass RLS, nor become (SET ROLE) a role that can, "
        "nor TRUNCATE/TRIGGER/REFERENCES",
    ),
    "tenant-keys": (5, "unique indexes and foreign keys include the tenant column"),
    "views": (6, "views over tenant tables are security_invoker; no materialized views"),
    "security-definer": (7, "SECURITY DEFINER functions pin search_path, no PUBLIC EXECUTE"),
    "leakproof": (8, "no LEAKPROOF functions outside pg_catalog"),
    "partitions": (9, "partitions and children the app role can reach have RLS"),
    "server-version": (10, "the server has the fixes for the RLS CVEs"),
    "undeclared": (11, "tables carrying the tenant column are declared or opted out"),
    "tenant-index": (12, "an index of each tenant table leads with the tenant column"),
    "role-defaults": (13, "no role defaults change role, search_path, row_security, tenantkit.*"),
    "temp": (14, "the app role cannot create temporary tables (TEMPORARY on the database)"),
    "index-oracle": (15, "every index of a tenant table leads with the tenant column"),
    "prepared-xacts": (16, "two-phase commit is off (max_prepared_transactions = 0)"),
}


@dataclass(frozen=True)
class Finding:
    """One problem in one database object, with how to fix it."""

    check: str
    severity: Severity
    object: str
    problem: str
    fix: str

    @property
    def number(self) -> int:
        return CHECKS[self.check][0]


def format_table(findings: Sequence[Finding]) -> str:
    """One line per finding: severity, check, object, problem, fix."""
    if not findings:
        return "no findings: every check passed\n"
    rows = [
        (f.severity.upper(), f"{f.number:>2} {f.check}", f.object, f.problem, f.fix)
        for f in findings
    ]
    header = ("SEVERITY", "CHECK", "OBJECT", "PROBLEM", "FIX")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    errors = sum(f.severity == "error" for f in findings)
    lines.append(f"\n{errors} error(s), {len(findings) - errors} warning(s)")
    return "\n".join(lines) + "\n"


def format_json(findings: Sequence[Finding]) -> str:
    """The findings as a JSON document (`tenantkit doctor --json`)."""
    items = [{"number": f.number, **asdict(f)} for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    document = {"errors": errors, "warnings": len(findings) - errors, "findings": items}
    return json.dumps(document, indent=2) + "\n"
