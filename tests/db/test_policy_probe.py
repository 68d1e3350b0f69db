"""Migration 0012: one verified principal and current_membership as one SELECT.

Plan shape (not timings; `benchmarks/bench_policy.py` has the figures): under
signed binding (the suite's default), for a member and for an org API key, a
tenant table's page of 50 and pk lookup read the binding in one InitPlan per
statement, check one signature (one probe of binding_keys, for users and keys
alike), run no UNION ALL, and every subplan runs at most once. And the
downgrade restores 0011 exactly, then upgrades again.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit import TenantContext, migrate, tenant_context
from tenantkit.db.signing import set_signing
from tenantkit.sqlfiles import migrations_dir
from tenantkit.testing import RunningServer, TestDatabase, provision_database
from tests.key_tables import ROWS, OrgKeys

from .test_own_migration import snapshot

QUERIES = [
    "SELECT org_id FROM public.key_items ORDER BY org_id DESC LIMIT 50",
    "SELECT org_id FROM public.key_items WHERE org_id = '00000000-0000-4000-8000-000000000001'",
]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _analyzed(app_engine: sa.Engine, ctx: TenantContext, query: str) -> list[dict[str, Any]]:
    with tenant_context(ctx), app_engine.connect() as conn:
        raw = conn.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}")).scalar_one()
        conn.rollback()
    data = raw if isinstance(raw, list) else json.loads(raw)
    return list(_nodes(data[0]["Plan"]))


def _principals(org_keys: OrgKeys) -> list[tuple[str, TenantContext]]:
    a = org_keys.orgs.a
    return [
        ("member", a.context(a.member_id)),
        ("api key", TenantContext.for_api_key(org_keys.a_writer.api_key_id, a.org_id)),
    ]


@pytest.mark.parametrize("query", QUERIES)
def test_one_initplan_one_signature_check_no_union(
    app_engine: sa.Engine, org_keys: OrgKeys, query: str
) -> None:
    for who, ctx in _principals(org_keys):
        nodes = _analyzed(app_engine, ctx, query)
        membership = [
            n for n in nodes
            if n.get("Parent Relationship") == "InitPlan"
            and any(x.get("Relation Name") == "memberships" for x in _nodes(n))
        ]
        assert len(membership) == 1, (who, nodes)
        inside = list(_nodes(membership[0]))
        # One SELECT: no branches for users and keys.
        assert not [n for n in inside if n["Node Type"] == "Append"], (who, inside)
        # One signature check for both kinds of principal.
        checks = [n for n in inside if n.get("Relation Name") == "binding_keys"]
        assert len(checks) == 1, (who, checks)
        # Once per statement: the InitPlan and every subplan under it run at most once.
        assert membership[0]["Actual Loops"] == 1, (who, membership[0])
        for node in nodes:
            if node.get("Parent Relationship") in ("InitPlan", "SubPlan"):
                assert node["Actual Loops"] <= 1, (who, node)
        # The table's own scan carries no per-row subplan.
        scans = [n for n in nodes if n.get("Relation Name") == "key_items"]
        assert scans, nodes
        for scan in scans:
            assert not [c for c in scan.get("Plans", [])
                        if c.get("Parent Relationship") == "SubPlan"], (who, scan)


def test_both_principals_still_read_their_rows(app_engine: sa.Engine, org_keys: OrgKeys) -> None:
    for who, ctx in _principals(org_keys):
        with tenant_context(ctx), app_engine.connect() as conn:
            orgs = conn.execute(sa.text("SELECT org_id::text FROM public.key_items")).scalars()
            assert list(orgs) == [ctx.org_id] * ROWS, who


@pytest.fixture
def signing_state(tenantkit_db: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The owner's connection to switch signing with; the run's mode is put back after."""
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        row = conn.execute("SELECT signed_binding FROM tenantkit.settings").fetchone()
        assert row is not None
        try:
            yield conn
        finally:
            set_signing(conn, bool(row[0]))


def test_a_mode_change_reaches_cached_plans_at_the_next_statement(
    tenantkit_db: TestDatabase, org_keys: OrgKeys,
    signing_state: psycopg.Connection[tuple[object, ...]],
) -> None:
    # The view is redefined when signing is switched (a trigger on settings):
    # a connection that has a generic plan cached for a tenant statement must
    # not keep running the old definition. An unsigned engine on one pooled
    # connection: it reads rows only while signing is off.
    engine = tenantkit.create_engine(tenantkit_db.url("app"), signer=None, pool_size=1)
    a = org_keys.orgs.a
    ctx = a.context(a.member_id)
    read = sa.text("SELECT count(*) FROM public.key_items")

    def seen() -> set[int]:
        counts = set()
        with tenant_context(ctx), engine.connect() as conn:
            for _ in range(8):  # past psycopg's prepare threshold: a cached plan
                counts.add(conn.execute(read).scalar_one())
        return counts

    try:
        for signed in (False, True, False, True):
            set_signing(signing_state, signed)
            assert seen() == ({0} if signed else {ROWS}), signed
    finally:
        engine.dispose()


def test_a_mode_change_waits_for_open_transactions_that_read_the_view(
    app_engine: sa.Engine, org_keys: OrgKeys,
    signing_state: psycopg.Connection[tuple[object, ...]],
) -> None:
    # Switching signing is DDL on the view every tenant statement reads: it
    # waits for the transactions reading it (then applies from their next
    # one), so on a busy database switch with a lock_timeout and retry.
    a = org_keys.orgs.a
    row = signing_state.execute("SELECT signed_binding FROM tenantkit.settings").fetchone()
    assert row is not None
    with tenant_context(a.context(a.member_id)), app_engine.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM public.key_items")).scalar_one()
        with signing_state.transaction():
            signing_state.execute("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                set_signing(signing_state, not row[0])
        conn.rollback()
    set_signing(signing_state, not row[0])  # nothing reads the view now: it goes through


def test_with_signing_off_the_plan_holds_no_signature_check(
    app_engine: sa.Engine, org_keys: OrgKeys,
    signing_state: psycopg.Connection[tuple[object, ...]],
) -> None:
    set_signing(signing_state, False)
    a = org_keys.orgs.a
    nodes = _analyzed(app_engine, a.context(a.member_id), QUERIES[0])
    relations = {n.get("Relation Name") for n in nodes}
    assert relations.isdisjoint({"binding_keys", "settings"}), relations
    assert "memberships" in relations, relations


def _previous() -> str:
    """0012's down_revision, as its script says (the merger may rechain it)."""
    script = next(migrations_dir().glob("**/0012_*.py")).read_text()
    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "down_revision":
            return str(ast.literal_eval(node.value))
    raise AssertionError("0012 names no down_revision")


@pytest.fixture
def at_previous(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles, revision=_previous())
    yield db
    db.drop()


def test_the_downgrade_restores_the_revision_before_exactly(at_previous: TestDatabase) -> None:
    url = at_previous.url("owner")
    before = snapshot(at_previous)
    migrate.upgrade(url, roles=at_previous.roles, revision="0012")
    upgraded = snapshot(at_previous)
    views = {row[0] for row in upgraded["views"]} - {row[0] for row in before["views"]}
    assert views == {"_verified_principal"}
    migrate.downgrade(url, roles=at_previous.roles, revision=_previous())
    after = snapshot(at_previous)
    assert {k: (before[k] - after[k], after[k] - before[k]) for k in before
            if before[k] != after[k]} == {}
    migrate.upgrade(url, roles=at_previous.roles, revision="0012")
    assert snapshot(at_previous) == upgraded
