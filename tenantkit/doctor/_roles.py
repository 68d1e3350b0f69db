"""The doctor's role checks: what the app role can become, its defaults, TEMP.

Check 4's reachability half is the connection safety gate itself
(sql/runtime/connection_safety.sql), run for the app role's name: its reasons
become findings, each with the REVOKE or ALTER ROLE that removes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import RowMapping

from tenantkit import rls
from tenantkit.doctor._audit import Audit
from tenantkit.doctor._findings import Finding, check

__all__ = ["GateReason", "app_role", "parse_gate", "role_defaults", "temp"]

# quote_ident's output: a plain lower-case name, or a double-quoted one.
_IDENT = r'(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)'
_REASON = re.compile(
    rf"role (?P<origin>{_IDENT})(?: can become (?P<target>{_IDENT}), which)? "
    r"(?P<reason>[^;]+?)(?:; (?=role )|$)"
)

#: Role attributes the gate names, and the ALTER ROLE option that drops each.
_ATTRIBUTES = {
    "is a superuser": "NOSUPERUSER",
    "has BYPASSRLS": "NOBYPASSRLS",
    "has REPLICATION": "NOREPLICATION",
}


@dataclass(frozen=True)
class GateReason:
    """One reason of the safety gate: `origin` can become `target`, which `reason`."""

    origin: str
    target: str
    reason: str


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def parse_gate(reasons: str) -> list[GateReason] | None:
    """The gate's reasons one by one; None when the text has an unexpected shape."""
    found = []
    position = 0
    for match in _REASON.finditer(reasons):
        if match.start() != position:
            return None
        origin = _unquote(match["origin"])
        target = _unquote(match["target"]) if match["target"] else origin
        found.append(GateReason(origin, target, match["reason"]))
        position = match.end()
    return found if found and position == len(reasons) else None


@check(
    "app-role",
    4,
    "the app role cannot bypass RLS, nor become (SET ROLE) a role that can, "
    "nor TRUNCATE/TRIGGER/REFERENCES",
    sql=["04_app_role", "04_app_memberships"],
)
def app_role(audit: Audit) -> list[Finding]:
    """Check 4: privileges RLS ignores, owned tenant tables, and every role it can become."""
    rows = audit.rows("04_app_role")
    owns_tenant_tables = any(row["kind"] == "owner" for row in rows)
    return _privileges(audit, rows) + _reachable(audit, skip_own_tables=owns_tenant_tables)


def _privileges(audit: Audit, rows: list[RowMapping]) -> list[Finding]:
    role = rls.quote_ident(audit.app_role)
    found = []
    for row in rows:
        kind, obj = row["kind"], row["object"]
        if kind == "missing":
            problem = f"role {audit.app_role} does not exist"
            fix = f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS; or pass --app-role"
        elif kind == "owner":
            problem = f"the app role owns {obj} (owners can disable RLS and drop policies)"
            fix = f"ALTER TABLE {obj} OWNER TO <the migration role>;"
        else:
            problem = f"the app role holds {kind} on {obj} ({kind} is not subject to RLS)"
            fix = f"REVOKE {kind} ON {obj} FROM {role}; (and from PUBLIC or any role it inherits)"
        found.append(Finding("app-role", "error", obj, problem, fix))
    return found


def _reachable(audit: Audit, *, skip_own_tables: bool) -> list[Finding]:
    grants = audit.rows("04_app_memberships")
    direct = sorted({str(g["role_name"]) for g in grants})
    answer = audit.gate([audit.app_role, *direct])
    if answer is None:
        return []
    reasons = parse_gate(answer)
    if reasons is None:
        # The gate's wording changed: still refuse, with its own words.
        return [
            Finding(
                "app-role",
                "error",
                audit.app_role,
                f"the connection safety gate refuses the app role: {answer}",
                "remove what the gate names (see sql/runtime/connection_safety.sql)",
            )
        ]
    reach: dict[str, set[str]] = {}
    for reason in reasons:
        reach.setdefault(reason.origin, set()).add(reason.target)
    found = []
    for reason in reasons:
        if reason.origin != audit.app_role:
            continue
        if reason.target == audit.app_role:
            if skip_own_tables and reason.reason.startswith("owns"):
                continue  # already reported table by table
            found.append(_own_finding(audit.app_role, reason.reason))
            continue
        hops = [r for r in direct if reason.target in reach.get(r, ())]
        revokes = [_revoke(audit.app_role, g) for g in grants if g["role_name"] in hops]
        found.append(_reach_finding(audit.app_role, reason, hops, revokes))
    return found


def _revoke(app: str, grant: RowMapping) -> str:
    # A grant made by a non-superuser is revoked only in its grantor's name (PG 16+).
    statement = f"REVOKE {rls.quote_ident(str(grant['role_name']))} FROM {rls.quote_ident(app)}"
    if not grant["grantor_is_superuser"]:
        statement += f" GRANTED BY {rls.quote_ident(str(grant['grantor']))}"
    return statement + ";"


def _own_finding(app: str, reason: str) -> Finding:
    role = rls.quote_ident(app)
    option = _ATTRIBUTES.get(reason)
    if option is not None:
        fix = f"ALTER ROLE {role} {option};"
    elif reason.startswith("has CREATEROLE"):
        fix = f"ALTER ROLE {role} NOCREATEROLE;"
    elif reason.startswith("owns"):
        fix = (
            "ALTER TABLE <each table it owns with row-level security> "
            "OWNER TO <the migration role>;"
        )
    else:
        fix = f"remove it: the app role {reason}"
    problem = f"the app role {reason}: {_consequence(reason)}"
    return Finding("app-role", "error", app, problem, fix)


def _consequence(reason: str) -> str:
    # What the reachable role could do with every org's rows.
    if reason in ("is a superuser", "has BYPASSRLS"):
        return "row-level security no longer applies"
    if reason == "has REPLICATION":
        return "a replication connection or base backup copies every org's rows"
    if reason.startswith("owns"):
        return "it can switch row-level security off or change the policies"
    if reason.startswith("has CREATEROLE"):
        return "it can grant itself roles that bypass row-level security"
    if reason.startswith("is pg_"):
        return "it reaches the server's files or programs, and every org's rows with them"
    return "it can bypass row-level security"


def _reach_finding(app: str, reason: GateReason, hops: list[str], revokes: list[str]) -> Finding:
    target = reason.target
    if target in hops:
        how = f"is granted {target}"
    elif hops:
        how = f"can become {target} through {', '.join(hops)}"
    else:
        how = f"can become {target}"
    problem = (
        f"the app role {how}, which {reason.reason}: after SET ROLE {target}, "
        f"{_consequence(reason.reason)}"
    )
    fix = " ".join(revokes) or f"REVOKE {rls.quote_ident(target)} FROM {rls.quote_ident(app)};"
    option = _ATTRIBUTES.get(reason.reason)
    if option is not None:
        fix += f"  -- or ALTER ROLE {rls.quote_ident(target)} {option}; if it needs none"
    return Finding("app-role", "error", target, problem, fix)


#: Why each role default matters (check 13).
_DEFAULT_EFFECTS = {
    "role": "every connection starts SET ROLE to it, whatever the application binds",
    "session_authorization": "every connection asks to become that session user",
    "row_security": "it changes how every query meets the policies (off: tenant tables fail)",
    "search_path": "unqualified names resolve through it in every connection",
    "default_transaction_read_only": "every transaction starts read-only",
}


@check(
    "role-defaults",
    13,
    "no role defaults change role, search_path, row_security, tenantkit.*",
    sql=["13_role_defaults"],
)
def role_defaults(audit: Audit) -> list[Finding]:
    """Check 13: pg_db_role_setting entries that reach the app role's connections."""
    found = []
    for row in audit.rows("13_role_defaults"):
        name, value = str(row["name"]), str(row["value"])
        role_name, database = row["role_name"], row["database_name"]
        who = f"ROLE {rls.quote_ident(role_name)}" if role_name else "ROLE ALL"
        where = f" IN DATABASE {rls.quote_ident(database)}" if database else ""
        target = role_name or "all roles"
        obj = f"{target} in {database}" if database else target
        effect = _DEFAULT_EFFECTS.get(
            name.lower(),
            "every connection starts with this tenant setting at session level, "
            "so an unbound transaction inherits it",
        )
        found.append(
            Finding(
                "role-defaults",
                "error",
                obj,
                f"role default {name} = {value} applies to the app role's connections: {effect}",
                f"ALTER {who}{where} RESET {_setting_name(name)};",
            )
        )
    return found


def _setting_name(name: str) -> str:
    # tenantkit.org_id and the like: quote each part that needs it.
    return ".".join(rls.quote_ident(part) for part in name.split("."))


@check(
    "temp",
    14,
    "the app role cannot create temporary tables (TEMPORARY on the database)",
    sql=["14_temp"],
)
def temp(audit: Audit) -> list[Finding]:
    """Check 14: the app role may create temporary tables in this database."""
    rows = audit.rows("14_temp")
    if not rows:
        return []
    database = rls.quote_ident(str(rows[0]["database_name"]))
    grantees = [r["grantee"] for r in rows]
    revokes = [
        f"REVOKE TEMPORARY ON DATABASE {database} FROM "
        f"{'PUBLIC' if grantee is None else rls.quote_ident(grantee)};"
        for grantee in grantees
    ]
    through = ", ".join("PUBLIC" if g is None else g for g in grantees)
    problem = (
        f"the app role may create temporary tables (TEMPORARY through {through}): a temporary "
        "table is a session object, so it survives into the next use of a pooled connection "
        "(another tenant's request), and pg_temp is searched first for unqualified names, so "
        "it can shadow a real table for that request"
    )
    fix = " ".join(revokes) + (
        f"  -- then GRANT TEMPORARY ON DATABASE {database} TO the roles that need it "
        "(never the app role)"
    )
    return [Finding("temp", "error", str(rows[0]["database_name"]), problem, fix)]
