"""Plan shape under the tenant policy: index use on the tenant column, and the
policy functions evaluated once per statement (only inside InitPlans).

Plans, not timings: they are deterministic and cannot flake on a busy machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import tenant_context
from tenantkit.testing import TestDatabase, TwoOrgs

ORGS, ROWS_PER_ORG = 40, 500


@pytest.fixture(scope="module")
def plan_items(tenantkit_db: TestDatabase, seed: TwoOrgs) -> TwoOrgs:
    role = tenantkit_db.roles.app
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(f"""
            CREATE TABLE public.plan_items (
                org_id uuid NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY,
                title text NOT NULL, PRIMARY KEY (org_id, id));
            ALTER TABLE public.plan_items ENABLE ROW LEVEL SECURITY;
            ALTER TABLE public.plan_items FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON public.plan_items AS RESTRICTIVE FOR ALL TO "{role}"
                USING (org_id = (SELECT tenantkit.current_org_id()))
                WITH CHECK (org_id = (SELECT tenantkit.current_org_id()));
            CREATE POLICY members_read ON public.plan_items FOR SELECT TO "{role}"
                USING ((SELECT tenantkit.has_min_role('Member')));
            GRANT SELECT ON public.plan_items TO "{role}";
        """)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.plan_items (org_id, title) "
            "SELECT CASE WHEN o = 1 THEN %s::uuid ELSE md5('org' || o)::uuid END, 'item ' || g "
            "FROM generate_series(1, %s) g, generate_series(1, %s) o ORDER BY g, o",
            (seed.a.org_id, ROWS_PER_ORG, ORGS),
        )
        conn.execute("ANALYZE public.plan_items")
    return seed


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _initplan_ref(nodes: list[dict[str, Any]], output: str) -> str:
    """How the plan refers to the InitPlan computing `output`: "$0" before
    PostgreSQL 17, "(InitPlan 1).col1" from 17 on."""
    for node in nodes:
        if node.get("Parent Relationship") == "InitPlan" and output in node.get("Output", []):
            name = node["Subplan Name"]
            match = re.search(r"returns (\$\d+)", name)
            return match.group(1) if match else f"({name}).col1"
    raise AssertionError(f"no InitPlan computes {output}: {nodes}")


def _explain(sessions: sessionmaker[Session], orgs: TwoOrgs, query: str) -> list[dict[str, Any]]:
    with tenant_context(orgs.a.context(orgs.a.member_id)), sessions() as session:
        raw = session.execute(sa.text(f"EXPLAIN (VERBOSE, FORMAT JSON) {query}")).scalar_one()
        session.rollback()
    data = raw if isinstance(raw, list) else json.loads(raw)
    return list(_nodes(data[0]["Plan"]))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id, title FROM public.plan_items ORDER BY id DESC LIMIT 50",
        "SELECT title FROM public.plan_items WHERE id = 1234",
        "SELECT count(*) FROM public.plan_items",
    ],
)
def test_index_cond_on_tenant_column_and_functions_only_in_initplans(
    app_sessions: sessionmaker[Session], plan_items: TwoOrgs, query: str
) -> None:
    nodes = _explain(app_sessions, plan_items, query)
    scans = [n for n in nodes if n.get("Relation Name") == "plan_items"]
    assert scans and all(n["Node Type"] != "Seq Scan" for n in scans), nodes
    # The tenant predicate drives the index (a Bitmap Heap Scan's lives in its Bitmap
    # Index Scan), fed by the InitPlan that calls current_org_id() once.
    org_ref = _initplan_ref(nodes, "tenantkit.current_org_id()")
    index_conds = [n.get("Index Cond", "") for n in nodes if "Index Name" in n]
    assert any(f"org_id = {org_ref}" in cond for cond in index_conds), nodes
    for scan in scans:
        assert "current_org_id" not in json.dumps(scan.get("Filter", ""))
    for node in nodes:
        text = json.dumps({k: v for k, v in node.items() if k != "Plans"})
        if "tenantkit." in text:
            assert node.get("Parent Relationship") == "InitPlan", node
