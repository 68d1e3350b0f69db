"""`assert_tenant_safe`: the doctor's checks as a test assertion for your CI.

def test_database_is_tenant_safe(engine):
    assert_tenant_safe(engine, app_role="myapp_app", metadata=Base.metadata)

Accepting one finding rather than a whole check (an index you know is not
led by the tenant column, say) takes "check:object":
`allow=["index-oracle:public_search_idx"]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Engine, MetaData

from tenantkit.doctor import CHECKS, format_table, run_checks
from tenantkit.sqlfiles import DatabaseRoles
from tenantkit.tables.declare import declarations

__all__ = ["assert_tenant_safe"]


def assert_tenant_safe(
    bind: Engine | Connection,
    *,
    app_role: str = DatabaseRoles.app,
    metadata: MetaData | Sequence[MetaData] | None = None,
    tenant_column: str = "org_id",
    allow: Iterable[str] = (),
) -> None:
    """Fail with the doctor's table of findings unless every check passes.

    Stricter than `tenantkit doctor`'s exit code: warnings fail too. `allow`
    names checks to skip (e.g. "server-version" on an old CI image) or single
    findings as "check:object" (e.g. "index-oracle:notes_body_idx"); an
    unknown check id is a ValueError. `metadata` brings the declarations, so
    opt-outs and declared tables count.
    """
    found = None
    if metadata is not None:
        sources = [metadata] if isinstance(metadata, MetaData) else list(metadata)
        found = declarations(*sources)
    skip: set[str] = set()
    accepted: set[tuple[str, str]] = set()
    for entry in allow:
        check, _, obj = entry.partition(":")
        if obj:
            accepted.add((check, obj))
        else:
            skip.add(check)
    unknown = {check for check, _ in accepted} - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}; known: {sorted(CHECKS)}")
    findings = [
        f
        for f in run_checks(
            bind, app_role=app_role, tenant_column=tenant_column, declarations=found, skip=skip
        )
        if (f.check, f.object) not in accepted
    ]
    if findings:
        raise AssertionError("the database is not tenant-safe:\n" + format_table(findings))
