"""The fixture app of tests/tables on the Citus cluster, for tests collected again.

Its three tenant tables are created by plain SQL in the shape Citus accepts (the
`tenantkit distribute` op is another change): the tenant-column default before
distribution, distributed by org_id and co-located, `plans` a reference table, no
foreign key to tenantkit.orgs (tenantkit's tables stay on the coordinator) and no
refuse-change trigger (Citus refuses triggers on distributed tables and itself
refuses any update of the distribution column). The policies come from the app's
own declarations (`TenancySpec`, the Citus flavour), with two Citus-forced changes:
the isolation is folded into every permissive policy, because Citus 14 creates
the shards' policies without AS RESTRICTIVE; and `IS NOT NULL` reads `IS DISTINCT
FROM NULL`, which means the same and does not crash Citus's planner. The app's
custom SQL rule loses its `(SELECT ...)`, which Citus refuses in a policy.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import Table

from tenantkit.rls import TenancySpec, command_policy, quote_ident
from tests.tables.app.models import Comment, Document, Project

_SUBQUERY = re.compile(r"\(SELECT (tenantkit\.\w+\(\))\)")

TABLES = r"""
CREATE TABLE plans (code text PRIMARY KEY, name text NOT NULL);
SELECT create_reference_table('plans');
CREATE TABLE documents (
    org_id uuid NOT NULL DEFAULT tenantkit.current_org_id(),
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    title text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE INDEX documents_org_id_created_at_idx ON documents (org_id, created_at);
SELECT create_distributed_table('documents', 'org_id');
CREATE TABLE comments (
    org_id uuid NOT NULL DEFAULT tenantkit.current_org_id(),
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    document_id uuid NOT NULL,
    author_id uuid NOT NULL DEFAULT tenantkit.current_user_id(),
    body text NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, document_id) REFERENCES documents (org_id, id) ON DELETE CASCADE
);
SELECT create_distributed_table('comments', 'org_id', colocate_with => 'documents');
CREATE TABLE projects (
    org_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    slug text NOT NULL,
    plan_code text REFERENCES plans (code),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, slug)
);
SELECT create_distributed_table('projects', 'org_id', colocate_with => 'documents')
"""


def _citus(expression: str) -> str:
    return _SUBQUERY.sub(r"\1", expression).replace(" IS NOT NULL", " IS DISTINCT FROM NULL")


def policy_statements(app_role: str) -> list[str]:
    """ENABLE/FORCE, grants and one permissive policy per command, isolation folded in."""
    statements: list[str] = []
    for model in (Document, Comment, Project):
        table = model.__table__
        assert isinstance(table, Table)
        spec = table.info["tenantkit"]
        assert isinstance(spec, TenancySpec)
        spec = replace(spec, flavour="citus")
        name = quote_ident(table.name)
        role = quote_ident(app_role)
        isolation = f"{quote_ident(spec.tenant_column)} = tenantkit.current_org_id()"
        statements += [
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
            f"GRANT {', '.join(spec.privileges)} ON {name} TO {role}",
        ]
        for command, rule in spec.rules():
            policy = command_policy(command, rule, "citus")
            if policy is None:
                continue
            clauses = []
            if policy.using is not None:
                clauses.append(f"USING ({isolation} AND {_citus(policy.using)})")
            if policy.with_check is not None:
                clauses.append(f"WITH CHECK ({isolation} AND {_citus(policy.with_check)})")
            statements.append(
                f"CREATE POLICY {quote_ident(policy.name)} ON {name} AS PERMISSIVE "
                f"FOR {policy.command} TO {role} " + " ".join(clauses)
            )
    statements.append(f"GRANT SELECT ON plans TO {quote_ident(app_role)}")
    return statements


def table_statements() -> list[str]:
    return [part.strip() for part in TABLES.split(";") if part.strip()]
