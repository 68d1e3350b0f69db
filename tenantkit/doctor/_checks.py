"""The doctor's checks: a catalog query each (sql/doctor/), findings in Python.

Each registers itself with `@check` (see `doctor.findings`); the role checks
live in `doctor.roles`. Every check reads the catalog only; the one exception is
check 2's exact predicate comparison, which deparses the generated tenant
policy on a scratch table inside a savepoint that is rolled back.
"""

from __future__ import annotations

import re
from typing import Final

from sqlalchemy import RowMapping
from sqlalchemy.exc import DBAPIError

from tenantkit import rls
from tenantkit.doctor._audit import Audit
from tenantkit.doctor._citus import citus_policy_findings, citus_tables
from tenantkit.doctor._findings import Finding, Severity, check
from tenantkit.doctor._scope import AuditTable
from tenantkit.tables.catalog import deparse

__all__ = [
    "VERSION_FLOORS",
    "Audit",
    "index_oracle_fix",
    "prepared_xacts_finding",
    "version_finding",
]

#: Minimum minor release per major: CVE-2025-8713 (and the earlier RLS CVEs)
#: are fixed from these on; 18.x has the fixes from its first release.
VERSION_FLOORS: Final[dict[int, int]] = {
    17: 170006,
    16: 161000,
    15: 150014,
    14: 140019,
    13: 130022,
}


@check("rls-force", 1, "tenant tables ENABLE and FORCE row-level security", sql=["01_rls_force"])
def _rls_force(audit: Audit) -> list[Finding]:
    found = []
    for row in audit.rows("01_rls_force"):
        missing = []
        fixes = []
        if not row["row_security"]:
            missing.append("ENABLE")
            fixes.append(f"ALTER TABLE {row['object']} ENABLE ROW LEVEL SECURITY;")
        if not row["force"]:
            missing.append("FORCE")
            fixes.append(f"ALTER TABLE {row['object']} FORCE ROW LEVEL SECURITY;")
        found.append(
            Finding(
                "rls-force",
                "error",
                row["object"],
                f"row-level security lacks {' and '.join(missing)}",
                " ".join(fixes),
            )
        )
    return found


def _canonical_predicates(audit: Audit, table: AuditTable) -> set[tuple[str, str]] | None:
    # The generated predicate in both flavours, as PostgreSQL deparses it on
    # this very table; None when no scratch table could be made (no TEMP).
    # The plain flavour's pre-0005 form, (SELECT current_org_id()), is as safe
    # (only slower), so it passes too.
    policies = []
    generated = [
        ("postgres", rls.isolation_policy(table.tenant_column, "postgres")),
        ("citus", rls.isolation_policy(table.tenant_column, "citus")),
        ("legacy", rls.legacy_isolation_policy(table.tenant_column)),
    ]
    for flavour, policy in generated:
        predicate = policy.using
        name = f"tenantkit_doctor_{flavour}"
        policies.append(rls.Policy(name, "ALL", True, predicate, predicate))
    try:
        deparsed = deparse(audit.conn, table.name, policies, tenant_column=table.tenant_column)
    except DBAPIError:
        return None
    return {
        (p.qual, p.with_check)
        for p in deparsed.policies.values()
        if p is not None and p.qual is not None and p.with_check is not None
    }


def _one_line(statement: str) -> str:
    return " ".join(line.strip() for line in statement.splitlines())


@check(
    "tenant-policy",
    2,
    "a RESTRICTIVE FOR ALL tenant policy with USING and WITH CHECK",
    sql=["02_tenant_policy"],
)
def _tenant_policy(audit: Audit) -> list[Finding]:
    by_table: dict[int, list[RowMapping]] = {}
    for row in audit.rows("02_tenant_policy"):
        by_table.setdefault(int(row["oid"]), []).append(row)
    found = []
    on_citus = citus_tables(audit)
    for oid, rows in by_table.items():
        table = audit.table(oid)
        obj = rows[0]["object"]
        if oid in on_citus:
            # Citus makes a RESTRICTIVE policy permissive on the shards: the org
            # check must be inside each permissive policy instead.
            found += citus_policy_findings(audit, table, obj)
            continue
        create = _one_line(
            rls.create_policy(
                table.name, rls.isolation_policy(table.tenant_column), [audit.app_role]
            )
        )
        policies = [r for r in rows if r["policy"] is not None]
        if not policies:
            found.append(
                Finding(
                    "tenant-policy",
                    "error",
                    obj,
                    f"no RESTRICTIVE FOR ALL policy applies to {audit.app_role}",
                    create + ";",
                )
            )
            continue
        complete = [p for p in policies if p["qual"] is not None and p["with_check"] is not None]
        if not complete:
            for p in policies:
                lacking = "USING" if p["qual"] is None else "WITH CHECK"
                found.append(
                    Finding(
                        "tenant-policy",
                        "error",
                        obj,
                        f"restrictive policy {p['policy']} has no {lacking}, so "
                        f"{'reads' if lacking == 'USING' else 'writes'} are not bound to the org",
                        f"DROP POLICY {rls.quote_ident(p['policy'])} ON {table.name.sql}; "
                        + create
                        + ";",
                    )
                )
            continue
        canonical = _canonical_predicates(audit, table)
        if canonical is None:
            # Say so rather than pass: without TEMPORARY (revoked from PUBLIC, as
            # check 14 asks) or SELECT on the table, the comparison cannot be deparsed.
            found.append(
                Finding(
                    "tenant-policy",
                    "warning",
                    obj,
                    "could not compare the restrictive policy with tenantkit's: the doctor's "
                    "role cannot create a temporary scratch table",
                    "run the doctor as the owner (it needs TEMPORARY on the database and "
                    "SELECT on the table)",
                )
            )
            continue
        if not any((p["qual"], p["with_check"]) in canonical for p in complete):
            names = ", ".join(p["policy"] for p in complete)
            found.append(
                Finding(
                    "tenant-policy",
                    "warning",
                    obj,
                    f"restrictive policy {names} does not compare {table.tenant_column} with "
                    "tenantkit.current_org_id() as tenantkit generates it",
                    f"review it, or replace it: {create};",
                )
            )
    return found


@check("true-policy", 3, "no policy on a tenant table is just `true`", sql=["03_true_policies"])
def _true_policies(audit: Audit) -> list[Finding]:
    found = []
    for row in audit.rows("03_true_policies"):
        clauses = [
            name
            for name, is_true in (("USING", row["true_using"]), ("WITH CHECK", row["true_check"]))
            if is_true
        ]
        kind = "permissive" if row["permissive"] else "restrictive"
        found.append(
            Finding(
                "true-policy",
                "error",
                row["object"],
                f"{kind} policy {row['policy']} has {' and '.join(clauses)} (true)",
                "give it a real rule (tenantkit's any_member() is "
                "`(SELECT tenantkit.bound_user_id()) IS NOT NULL`) or drop it",
            )
        )
    return found


@check(
    "tenant-keys",
    5,
    "unique indexes and foreign keys include the tenant column",
    sql=["05_tenant_keys"],
)
def _tenant_keys(audit: Audit) -> list[Finding]:
    found = []
    for row in audit.rows("05_tenant_keys"):
        if row["kind"] == "unique_index":
            found.append(
                Finding(
                    "tenant-keys",
                    "error",
                    row["object"],
                    f"unique index on {row['table_name']} lacks the tenant column: "
                    "another org's values are revealed by 23505",
                    "make it UNIQUE (org_id, ...) (tenant_unique(...)); a primary key "
                    "becomes PRIMARY KEY (org_id, id)",
                )
            )
        else:
            tenant = bool(row["referenced_is_tenant"])
            found.append(
                Finding(
                    "tenant-keys",
                    "error" if tenant else "warning",
                    f"{row['table_name']}.{row['object']}",
                    "foreign key to a table with row-level security lacks the tenant "
                    "column: it accepts rows the org cannot see",
                    "reference (org_id, ...) with tenant_foreign_key(...)"
                    if tenant
                    else "point it at a tenant-scoped key, or accept the existence oracle",
                )
            )
    return found


@check(
    "views",
    6,
    "views over tenant tables are security_invoker; no materialized views",
    sql=["06_views"],
)
def _views(audit: Audit) -> list[Finding]:
    found = []
    for row in audit.rows("06_views"):
        severity: Severity = "error" if row["app_can_read"] else "warning"
        if row["materialized"]:
            found.append(
                Finding(
                    "views",
                    severity,
                    row["object"],
                    "materialized view over a tenant table stores every org's rows",
                    f"DROP MATERIALIZED VIEW {row['object']}; (or keep it from the app role)",
                )
            )
        else:
            found.append(
                Finding(
                    "views",
                    severity,
                    row["object"],
                    "view over a tenant table runs with its owner's rights",
                    f"ALTER VIEW {row['object']} SET (security_invoker = true);",
                )
            )
    return found


@check(
    "security-definer",
    7,
    "SECURITY DEFINER functions pin search_path, no PUBLIC EXECUTE",
    sql=["07_security_definer"],
)
def _security_definer(audit: Audit) -> list[Finding]:
    found = []
    for row in audit.rows("07_security_definer"):
        if row["unpinned"]:
            found.append(
                Finding(
                    "security-definer",
                    "error",
                    row["object"],
                    "SECURITY DEFINER function without a pinned search_path",
                    f"ALTER FUNCTION {row['object']} SET search_path = '';",
                )
            )
        if row["public_execute"]:
            found.append(
                Finding(
                    "security-definer",
                    "error",
                    row["object"],
                    "SECURITY DEFINER function executable by PUBLIC",
                    f"REVOKE EXECUTE ON FUNCTION {row['object']} FROM PUBLIC;",
                )
            )
    return found


@check("leakproof", 8, "no LEAKPROOF functions outside pg_catalog", sql=["08_leakproof"])
def _leakproof(audit: Audit) -> list[Finding]:
    return [
        Finding(
            "leakproof",
            "warning" if row["from_extension"] else "error",
            row["object"],
            "LEAKPROOF function outside pg_catalog may see every org's rows before the policies",
            f"ALTER FUNCTION {row['object']} NOT LEAKPROOF; (as a superuser)",
        )
        for row in audit.rows("08_leakproof")
    ]


@check(
    "partitions",
    9,
    "partitions and children the app role can reach have RLS",
    sql=["09_partitions"],
)
def _partitions(audit: Audit) -> list[Finding]:
    found = []
    role = rls.quote_ident(audit.app_role)
    for row in audit.rows("09_partitions"):
        missing = [
            what
            for what, ok in (
                ("ENABLE", row["row_security"]),
                ("FORCE", row["force"]),
                ("policies", row["has_policies"]),
            )
            if not ok
        ]
        found.append(
            Finding(
                "partitions",
                "error",
                row["object"],
                f"child of {row['parent']} lacks {', '.join(missing)} and the app role can "
                "reach it directly",
                f"REVOKE ALL ON {row['object']} FROM {role}; (or give it its own RLS and policies)",
            )
        )
    return found


def version_finding(version_num: int, version: str) -> Finding | None:
    """The server-version finding for `server_version_num`, or None when it is recent enough."""
    major = version_num // 10000
    if major >= 18:
        return None
    floor = VERSION_FLOORS.get(major)
    if floor is not None and version_num >= floor:
        return None
    if floor is None:
        problem = f"PostgreSQL {version} is out of support and lacks the RLS CVE fixes"
        fix = "upgrade to a supported major release (18, or 13.22+ ... 17.6+)"
    else:
        wanted = f"{major}.{floor % 100}"
        problem = f"PostgreSQL {version} predates {wanted}, which fixes CVE-2025-8713 and earlier"
        fix = f"upgrade to {wanted} or later"
    return Finding("server-version", "error", "server", problem, fix)


@check("server-version", 10, "the server has the fixes for the RLS CVEs", sql=["10_server_version"])
def _server_version(audit: Audit) -> list[Finding]:
    row = audit.rows("10_server_version")[0]
    finding = version_finding(int(row["version_num"]), str(row["version"]))
    return [] if finding is None else [finding]


@check(
    "undeclared",
    11,
    "tables carrying the tenant column are declared or opted out",
    sql=["scope"],
)
def _undeclared(audit: Audit) -> list[Finding]:
    return [
        Finding(
            "undeclared",
            "error",
            str(table.name),
            f"carries the tenant column {table.tenant_column} but is not a declared tenant table",
            "declare it with tenant_table(...) and migrate, or opt out with "
            "shared_table(..., reason=...)",
        )
        for table in audit.scope.undeclared
    ]


@check(
    "tenant-index",
    12,
    "an index of each tenant table leads with the tenant column",
    sql=["12_tenant_index"],
)
def _tenant_index(audit: Audit) -> list[Finding]:
    return [
        Finding(
            "tenant-index",
            "warning",
            row["object"],
            f"no index leads with {row['tenant_column']}: the policy filters every row",
            f"CREATE INDEX ON {row['object']} ({rls.quote_ident(row['tenant_column'])}, ...);",
        )
        for row in audit.rows("12_tenant_index")
    ]


_USING = re.compile(r" USING (\w+) \(")


def index_oracle_fix(
    index: str, definition: str, tenant_column: str, access_method: str, constraint: str | None
) -> str:
    """How to rebuild `index` led by the tenant column (runnable SQL for btree indexes)."""
    column = rls.quote_ident(tenant_column)
    if constraint is not None:
        return (
            f"recreate constraint {rls.quote_ident(constraint)} with {column} first "
            f"(PRIMARY KEY / UNIQUE ({column}, ...)), then drop the old one"
        )
    if access_method in ("btree", "gin", "gist"):
        led = _USING.sub(lambda m: f" USING {m[1]} ({column}, ", definition, count=1)
        fix = f"DROP INDEX {index}; {led};"
        if access_method != "btree":
            fix += f"  -- {access_method} needs the btree_{access_method} extension for {column}"
        return fix
    return f"rebuild it as a btree index led by {column}: CREATE INDEX ON ... ({column}, ...);"


@check(
    "index-oracle",
    15,
    "every index of a tenant table leads with the tenant column",
    sql=["15_index_oracle"],
)
def _index_oracle(audit: Audit) -> list[Finding]:
    found = []
    for row in audit.rows("15_index_oracle"):
        column = str(row["tenant_column"])
        found.append(
            Finding(
                "index-oracle",
                "warning",
                row["object"],
                f"index on {row['table_name']} is not led by {column}: its scans reach other "
                "orgs' entries before the policy removes them, so EXPLAIN ANALYZE (Rows "
                "Removed by Filter, a node's actual rows) tells the app role whether a value "
                "exists in another org",
                index_oracle_fix(
                    str(row["object"]),
                    str(row["definition"]),
                    column,
                    str(row["access_method"]),
                    row["constraint_name"],
                ),
            )
        )
    return found


def prepared_xacts_finding(max_prepared: int) -> Finding | None:
    """The two-phase-commit finding for `max_prepared_transactions`, or None when it is 0."""
    if max_prepared <= 0:
        return None
    return Finding(
        "prepared-xacts",
        "warning",
        "server",
        f"max_prepared_transactions = {max_prepared}: every session sees each prepared "
        "transaction's gid in pg_prepared_xacts, and any session of the role that prepared it "
        "(all tenants share the app role) can COMMIT PREPARED or ROLLBACK PREPARED it",
        "ALTER SYSTEM SET max_prepared_transactions = 0;  -- then restart; keep it above 0 "
        "only for two-phase commit by a role other than the app role",
    )


@check(
    "prepared-xacts",
    16,
    "two-phase commit is off (max_prepared_transactions = 0)",
    sql=["16_prepared_xacts"],
)
def _prepared_xacts(audit: Audit) -> list[Finding]:
    row = audit.rows("16_prepared_xacts")[0]
    finding = prepared_xacts_finding(int(row["max_prepared"]))
    return [] if finding is None else [finding]


@check(
    "signed-binding",
    20,
    "signed binding is on and its verifier is readable by the owner only",
    sql=["20_signed_binding", "20_signed_binding_flag", "20_signed_binding_keys"],
)
def _signed_binding(audit: Audit) -> list[Finding]:
    row = dict(audit.rows("20_signed_binding")[0])
    flag = audit.rows("20_signed_binding_flag") if row["has_settings"] else []
    row["signed"] = flag[0]["signed"] if flag else None
    if row["signed"] is None or not row["has_verifier"]:
        return []  # a schema before migration 0006: `tenantkit migrate` first
    found = []
    if (row["signed"] and row["can_read_keys"]
            and not int(audit.rows("20_signed_binding_keys")[0]["live"])):
        found.append(
            Finding(
                "signed-binding",
                "error",
                "tenantkit.binding_keys",
                "signed binding is on and no binding key is live: every app connection is "
                "refused (BindingError) until one is added",
                "tenantkit keys binding new k1, then tenantkit keys binding add k1:<secret> "
                "--database-url <owner URL>, and run the app with TENANTKIT_BINDING_SECRET; "
                "or opt out: tenantkit keys binding disable",
            )
        )
    obj = "tenantkit.binding_keys"
    if row["grantees"]:
        found.append(
            Finding(
                "signed-binding",
                "error",
                obj,
                f"the binding verifier is readable by {row['grantees']}: whoever reads it "
                "can sign any binding",
                f"REVOKE ALL ON tenantkit.binding_keys FROM {row['grantees']};",
            )
        )
    if not row["rls"]:
        found.append(
            Finding(
                "signed-binding",
                "error",
                obj,
                "row-level security is off on the binding verifier (its second lock)",
                "ALTER TABLE tenantkit.binding_keys ENABLE ROW LEVEL SECURITY;",
            )
        )
    if not row["signed"]:
        found.append(
            Finding(
                "signed-binding",
                "warning",
                "tenantkit.settings",
                "signed binding is off (an install from before it was the default, or "
                "opted out): SQL running as the app role (an injection) can "
                "set tenantkit.user_id and org_id and act as any member of any org",
                "UPDATE tenantkit.settings SET signed_binding = true;  -- after `tenantkit keys "
                "binding add KEY_ID:SECRET` and deploying the app with TENANTKIT_BINDING_SECRET",
            )
        )
    return found
