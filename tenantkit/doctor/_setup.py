"""Checks that the database is set up as the application expects.

tenantkit's schema exists and is at head; the tables the application declared
exist; the role and permission names its policies use exist in a role mapping.
Without these, the other checks can pass on a database that serves nobody.
"""

from __future__ import annotations

from tenantkit.doctor._audit import Audit
from tenantkit.doctor._findings import Finding, check
from tenantkit.migrate import head_revision
from tenantkit.tables.names import known_names, unknown_names

__all__: list[str] = []

_MIGRATE = "tenantkit migrate --database-url ... --app-role ... --service-role ..."


def _can_read_roles(audit: Audit) -> bool:
    return bool(audit.rows("18_tenantkit_schema")[0]["can_read_roles"])


@check(
    "rule-names",
    17,
    "the roles and permissions policies name exist in a role mapping",
    sql=["17_rule_names"],
)
def _rule_names(audit: Audit) -> list[Finding]:
    if not audit.scope.oids or not _can_read_roles(audit):
        return []
    known = known_names(audit.conn)
    return [
        Finding(
            "rule-names",
            "error",
            row["object"],
            problem + ": the rule matches nobody",
            "correct the name in the declaration and migrate, or add it to a role mapping",
        )
        for row in audit.rows("17_rule_names")
        for problem in unknown_names([row["qual"], row["with_check"]], known)
    ]


@check(
    "tenantkit-schema",
    18,
    "tenantkit's schema exists and is at the head revision",
    sql=["18_tenantkit_schema", "18_tenantkit_version"],
)
def _tenantkit_schema(audit: Audit) -> list[Finding]:
    state = audit.rows("18_tenantkit_schema")[0]
    if not state["has_schema"]:
        return [
            Finding("tenantkit-schema", "error", "tenantkit", "tenantkit's schema is missing",
                    _MIGRATE)
        ]
    head = head_revision()
    current = None
    if state["has_version_table"] and not state["can_read_version"]:
        return [
            Finding(
                "tenantkit-schema",
                "warning",
                "tenantkit.alembic_version",
                "could not read tenantkit's revision: this role may not read the version table",
                "run doctor as the owner",
            )
        ]
    if state["has_version_table"]:
        versions = audit.rows("18_tenantkit_version")
        current = versions[0]["version_num"] if versions else None
    if current == head:
        return []
    return [
        Finding(
            "tenantkit-schema",
            "error",
            "tenantkit.alembic_version",
            f"tenantkit's schema is at {current or 'no revision'}, behind head {head}",
            _MIGRATE,
        )
    ]


@check(
    "declared-missing",
    19,
    "every declared tenant table exists in the database",
    sql=["scope"],
)
def _declared_missing(audit: Audit) -> list[Finding]:
    return [
        Finding(
            "declared-missing",
            "error",
            str(name),
            "declared as a tenant table but not in the database",
            "run your migrations (alembic upgrade head), or check --models and the schema",
        )
        for name in audit.scope.missing
    ]
