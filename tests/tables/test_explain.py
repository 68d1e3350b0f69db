"""Plan shape under the generated policies (EXPLAIN (FORMAT JSON); never timings).

The restrictive policy's `org_id = (SELECT tenantkit.current_org_id())` must
become an index condition on an index led by the tenant column, with the
function evaluated once as an InitPlan, for primary-key lookups and for
50-row pages alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tests.tables.app.fixtures import AppData
from tests.tables.helpers import acting

pytestmark = pytest.mark.usefixtures("app_data")


def explain(conn: sa.Connection, sql: str, **params: Any) -> dict[str, Any]:
    document = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar_one()
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scan_of(plan: dict[str, Any], table: str) -> dict[str, Any]:
    scans = [n for n in nodes(plan) if n.get("Relation Name") == table]
    assert len(scans) == 1, scans
    return scans[0]


def assert_tenant_index_scan(plan: dict[str, Any], table: str, index: str) -> dict[str, Any]:
    scan = scan_of(plan, table)
    assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
    assert scan["Index Name"] == index
    assert "org_id =" in scan["Index Cond"], scan["Index Cond"]
    # current_org_id() runs once per statement, not once per row.
    assert any(n.get("Parent Relationship") == "InitPlan" for n in nodes(plan))
    # The binding's verification reads tenantkit's tables, tiny here (the one-row
    # settings, a few keys and members), where a sequential scan is the right
    # plan; tests/db/test_policy_cost.py shows an index can drive each probe.
    tiny = ("settings", "binding_keys", "memberships", "users")
    seq = [n for n in nodes(plan) if n["Node Type"] == "Seq Scan"]
    assert not [n for n in seq if n.get("Relation Name") not in tiny]
    return scan


def test_primary_key_lookup_uses_the_tenant_led_primary_key(
    app_engine_t: sa.Engine, app_data: AppData
) -> None:
    a = app_data.a
    lookup = "SELECT * FROM documents WHERE id = :id"
    with acting(app_engine_t, a.ctx("Member")) as conn:
        plan = explain(conn, lookup, id=a.documents[0])
        assert len(conn.execute(sa.text(lookup), {"id": a.documents[0]}).all()) == 1
    scan = assert_tenant_index_scan(plan, "documents", "documents_pkey")
    assert "id = " in scan["Index Cond"].replace("org_id =", "")


def test_fifty_row_page_walks_the_tenant_index_in_order(
    app_engine_t: sa.Engine, app_data: AppData
) -> None:
    page = "SELECT id, title, created_at FROM documents ORDER BY created_at DESC LIMIT 50"
    with acting(app_engine_t, app_data.a.ctx("Member")) as conn:
        plan = explain(conn, page)
        assert len(conn.execute(sa.text(page)).all()) == 50
    assert plan["Node Type"] == "Limit"
    scan = assert_tenant_index_scan(plan, "documents", "documents_org_id_created_at_idx")
    assert scan["Scan Direction"] == "Backward"
    assert not [n for n in nodes(plan) if n["Node Type"] == "Sort"]


def test_keyset_page_bounds_both_index_columns(app_engine_t: sa.Engine, app_data: AppData) -> None:
    page = (
        "SELECT id, title, created_at FROM documents WHERE created_at < :cursor "
        "ORDER BY created_at DESC LIMIT 50"
    )
    cursor = datetime.now(UTC)
    with acting(app_engine_t, app_data.a.ctx("Member")) as conn:
        plan = explain(conn, page, cursor=cursor)
        assert len(conn.execute(sa.text(page), {"cursor": cursor}).all()) == 50
    scan = assert_tenant_index_scan(plan, "documents", "documents_org_id_created_at_idx")
    assert "created_at <" in scan["Index Cond"]
