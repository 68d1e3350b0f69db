"""What the doctor reports, and its checks: one registry, filled by the `check` decorator.

    @check("rls-force", 1, "tenant tables ENABLE and FORCE row-level security",
           sql=["01_rls_force"])
    def _rls_force(audit: Audit) -> list[Finding]: ...

A check is registered where it is defined (`doctor.checks`, `doctor.roles`), with
its id (what `--skip` and `allow=` take), its number (the README's table), what
it verifies, and the `sql/doctor/` files it reads. `CHECKS` lists them in number
order once `tenantkit.doctor` is imported; a test holds every check to its SQL
file and its tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from tenantkit.doctor._audit import Audit

__all__ = ["CHECKS", "Check", "Finding", "Severity", "check", "format_json", "format_table"]

Severity = Literal["error", "warning"]
CheckFunction = Callable[["Audit"], list["Finding"]]


@dataclass(frozen=True)
class Check:
    """One check of the doctor: who it is, what it verifies, and how it runs."""

    id: str
    number: int
    summary: str
    #: The `sql/doctor/<name>.sql` files it reads.
    sql: tuple[str, ...]
    run: CheckFunction


#: check id -> `Check`, in number order: the one registry (see `check`).
CHECKS: Final[dict[str, Check]] = {}


def check(id: str, number: int, summary: str, *, sql: Sequence[str]) -> Callable[
    [CheckFunction], CheckFunction
]:
    """Register the decorated function as check `number`, known as `id`."""

    def register(run: CheckFunction) -> CheckFunction:
        clash = [c for c in CHECKS.values() if c.id == id or c.number == number]
        if clash:
            raise RuntimeError(f"doctor check {number} {id!r} clashes with {clash[0]}")
        CHECKS[id] = Check(id, number, summary, tuple(sql), run)
        ordered = sorted(CHECKS.values(), key=lambda c: c.number)
        CHECKS.clear()
        CHECKS.update((c.id, c) for c in ordered)
        return run

    return register


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
        return CHECKS[self.check].number


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
