"""The doctor on Citus: tenant tables distributed by their tenant column (check 21),
and what check 2 asks of a Citus table's policies.

Citus 14 creates a RESTRICTIVE policy on the shards (where queries run) as
PERMISSIVE, so on a Citus table the org check must sit inside every permissive
policy (the Citus flavour's `(org_id = tenantkit.current_org_id()) AND (...)`),
and a RESTRICTIVE policy is an error: on the shards it widens access.
"""

from __future__ import annotations

from tenantkit import rls
from tenantkit.doctor._audit import Audit
from tenantkit.doctor._findings import Finding, check
from tenantkit.doctor._scope import AuditTable
from tenantkit.tables.catalog import deparse, read_live

__all__ = ["citus_installed", "citus_policy_findings", "citus_tables"]


def citus_installed(audit: Audit) -> bool:
    return bool(audit.rows("21_citus_installed")[0]["installed"])


def citus_tables(audit: Audit) -> set[int]:
    """Oids of the tenant tables the policies must treat as Citus tables: declared
    flavour "citus", or placed by Citus (distributed, reference or Citus local)."""
    found = {
        t.oid
        for t in audit.scope.tenant_tables
        if (spec := audit.scope.declared.get(t.name)) is not None and spec.flavour == "citus"
    }
    if citus_installed(audit):
        found |= {int(r["oid"]) for r in audit.rows("21_citus_distribution") if r["method"]}
    return found


def _org_prefix(audit: Audit, table: AuditTable) -> str | None:
    # The org check as PostgreSQL deparses it on this table, as the start of a
    # top-level AND: `((org_id = tenantkit.current_org_id()) AND ...`.
    predicate = rls.citus_org_predicate(table.tenant_column)
    probe = rls.Policy("tenantkit_doctor_org", "ALL", False, predicate, predicate)
    deparsed = deparse(audit.conn, table.name, [probe], tenant_column=table.tenant_column)
    found = deparsed.policies.get(probe.name)
    if found is None or found.qual is None:
        return None
    return f"({found.qual} AND "


def citus_policy_findings(audit: Audit, table: AuditTable, obj: str) -> list[Finding]:
    """Check 2 for a Citus table: no RESTRICTIVE policy for the app role; every
    permissive one starts with the org check."""
    live = read_live(
        audit.conn, table.name, app_role=audit.app_role, tenant_column=table.tenant_column
    )
    if live is None:
        return []
    prefix = _org_prefix(audit, table)
    found: list[Finding] = []
    for policy in live.policies.values():
        if not ({audit.app_role, "public"} & set(policy.roles)):
            continue
        if policy.restrictive:
            found.append(
                Finding(
                    "tenant-policy",
                    "error",
                    obj,
                    f"RESTRICTIVE policy {policy.name} on a Citus table: Citus creates it on "
                    "the shards as PERMISSIVE, where it is ORed with the other policies and "
                    "widens access",
                    f"DROP POLICY {rls.quote_ident(policy.name)} ON {table.name.sql}; then put "
                    "the org check into each permissive policy (tenant_table(..., "
                    "flavour=\"citus\") and migrate)",
                )
            )
            continue
        expressions = [e for e in (policy.qual, policy.with_check) if e is not None]
        if prefix is None or any(not e.startswith(prefix) for e in expressions):
            found.append(
                Finding(
                    "tenant-policy",
                    "error",
                    obj,
                    f"permissive policy {policy.name} on a Citus table does not start with "
                    f"the org check ({rls.citus_org_predicate(table.tenant_column)}) AND ...: "
                    "it admits other orgs' rows",
                    "regenerate it with tenant_table(..., flavour=\"citus\") and migrate",
                )
            )
    return found


@check(
    "citus-distribution",
    21,
    "on Citus, every tenant table is distributed by its tenant column, co-located",
    sql=["21_citus_installed", "21_citus_distribution"],
)
def _citus_distribution(audit: Audit) -> list[Finding]:
    if not citus_installed(audit):
        return []
    found: list[Finding] = []
    groups: dict[int, list[str]] = {}
    for row in audit.rows("21_citus_distribution"):
        obj, column = str(row["object"]), str(row["tenant_column"])
        if row["method"] == "h" and row["column_name"] == column:
            groups.setdefault(int(row["colocation"]), []).append(obj)
            continue
        if row["method"] is None:
            problem = "is a plain table on the coordinator, not distributed"
        elif row["method"] == "h":
            problem = f"is distributed by {row['column_name']}, not by its tenant column"
        else:
            problem = "is a reference or Citus local table, not distributed"
        found.append(
            Finding(
                "citus-distribution",
                "error",
                obj,
                f"tenant table {problem}: queries fan out to every node instead of routing "
                f"to the org's shard",
                "tenantkit distribute --models ... (or op.distribute_tables) to distribute "
                f"it by {column}",
            )
        )
    if len(groups) > 1:
        tables = sorted(groups.values(), key=len, reverse=True)
        anchor = tables[0][0]
        for others in tables[1:]:
            for obj in others:
                found.append(
                    Finding(
                        "citus-distribution",
                        "warning",
                        obj,
                        f"not co-located with {anchor}: joins and foreign keys between them "
                        "cross shards",
                        f"SELECT update_distributed_table_colocation({rls.quote_literal(obj)}, "
                        f"colocate_with => {rls.quote_literal(anchor)});",
                    )
                )
    return found
