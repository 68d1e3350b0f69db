"""The live membership check as a view (migration 0005): plan shape, what the
app role can read through it, hostile search paths and leaky functions, and
when a membership change takes effect.

Plans, not timings (`benchmarks/bench_policy.py` has the figures).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import tenantkit
from tenantkit import tenant_context
from tenantkit.rls import TableName, TenancySpec, tenancy_script
from tenantkit.testing import TestDatabase, TwoOrgs

ROWS_PER_ORG = 300


@pytest.fixture(scope="module")
def cost_items(tenantkit_db: TestDatabase, seed: TwoOrgs) -> TwoOrgs:
    """A generated tenant table (tenantkit.rls, default rules) with rows in A, B and 30 others."""
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.cost_items (org_id uuid NOT NULL, "
            "id bigint GENERATED ALWAYS AS IDENTITY, title text NOT NULL, "
            "PRIMARY KEY (org_id, id))"
        )
        conn.execute(
            tenancy_script(
                TableName("cost_items", "public"),
                TenancySpec(default_to_bound_org=False, refuse_tenant_change=False),
                role=tenantkit_db.roles.app,
            )
        )
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.cost_items (org_id, title) "
            "SELECT CASE WHEN o = 1 THEN %s::uuid WHEN o = 2 THEN %s::uuid "
            "ELSE md5('cost' || o)::uuid END, 'item ' || g "
            "FROM generate_series(1, %s) g, generate_series(1, 32) o ORDER BY g, o",
            (seed.a.org_id, seed.b.org_id, ROWS_PER_ORG),
        )
        conn.execute("ANALYZE public.cost_items")
    return seed


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(sessions: sessionmaker[Session], orgs: TwoOrgs, query: str) -> list[dict[str, Any]]:
    with tenant_context(orgs.a.context(orgs.a.member_id)), sessions() as session:
        # The suite's memberships table is tiny, where a seq scan is cheaper;
        # what matters is that an index can drive each probe (as on real sizes).
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        raw = session.execute(sa.text(f"EXPLAIN (VERBOSE, FORMAT JSON) {query}")).scalar_one()
        session.rollback()
    data = raw if isinstance(raw, list) else json.loads(raw)
    return list(_nodes(data[0]["Plan"]))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT title FROM public.cost_items WHERE id = 1234",
        "SELECT id, title FROM public.cost_items ORDER BY id DESC LIMIT 50",
    ],
)
def test_generated_policy_is_one_initplan_of_primary_key_probes(
    app_sessions: sessionmaker[Session], cost_items: TwoOrgs, query: str
) -> None:
    nodes = _plan(app_sessions, cost_items, query)
    initplans = [n for n in nodes if n.get("Parent Relationship") == "InitPlan"]
    # One InitPlan reads the membership (org and check together); any_member()'s
    # bound_user_id() is inlined into a second, table-free one.
    reading = [
        n for n in initplans if any("memberships" in json.dumps(x) for x in _nodes(n))
    ]
    assert len(reading) == 1, initplans
    probes = [x for x in _nodes(reading[0]) if x.get("Relation Name") in ("memberships", "users")]
    assert {p["Relation Name"] for p in probes} == {"memberships", "users"}, probes
    assert all(p["Node Type"] == "Index Scan" for p in probes), probes
    # No function call left on the hot path: neither the definer function nor
    # bound_user_id() (inlined, so its name is gone from the plan).
    text = json.dumps(nodes)
    assert "current_org_id" not in text
    assert "current_user_id" not in text
    assert "bound_user_id" not in text
    # The table itself is driven by its primary key, led by the tenant column.
    scans = [n for n in nodes if n.get("Relation Name") == "cost_items"]
    assert scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans)
    assert all("org_id = (InitPlan" in n.get("Index Cond", "") or "org_id = $" in
               n.get("Index Cond", "") for n in scans), scans


def test_generated_policy_isolates(
    app_sessions: sessionmaker[Session], cost_items: TwoOrgs
) -> None:
    for org in (cost_items.a, cost_items.b):
        with tenant_context(org.context(org.member_id)), app_sessions() as session:
            rows = session.execute(sa.text("SELECT DISTINCT org_id::text FROM public.cost_items"))
            assert rows.scalars().all() == [org.org_id]
            count = session.execute(sa.text("SELECT count(*) FROM public.cost_items"))
            assert count.scalar_one() == ROWS_PER_ORG
    with app_sessions() as session:  # unbound
        assert session.execute(sa.text("SELECT count(*) FROM public.cost_items")).scalar() == 0


MEMBERSHIP = sa.text(
    "SELECT org_id::text, user_id::text, role FROM tenantkit.current_membership"
)


def test_the_view_shows_the_app_role_its_own_bound_membership_only(
    app_sessions: sessionmaker[Session], seed: TwoOrgs
) -> None:
    a = seed.a
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert session.execute(MEMBERSHIP).all() == [(a.org_id, a.member_id, "Member")]
        # Whatever the app role adds, nothing of anyone else's.
        where = session.execute(
            sa.text("SELECT count(*) FROM tenantkit.current_membership WHERE org_id <> :o"),
            {"o": a.org_id},
        )
        assert where.scalar_one() == 0
        # Spoofed settings in the same transaction: B's owner is not our membership.
        session.execute(
            sa.text("SELECT set_config('tenantkit.org_id', :o, true), "
                    "set_config('tenantkit.user_id', :u, true)"),
            {"o": seed.b.org_id, "u": seed.a.owner_id},
        )
        assert session.execute(MEMBERSHIP).all() == []
        session.rollback()
    with app_sessions() as session:
        assert session.execute(MEMBERSHIP).all() == []


def test_a_session_level_binding_shows_nothing(
    app_sessions: sessionmaker[Session], seed: TwoOrgs
) -> None:
    # The stamp check of 0003 lives in the view too: set_config(..., false) binds nothing.
    a = seed.a
    with app_sessions() as session:
        session.execute(
            sa.text("SELECT set_config('tenantkit.org_id', :o, false), "
                    "set_config('tenantkit.user_id', :u, false), "
                    "set_config('tenantkit.bound', "
                    "EXTRACT(epoch FROM now())::numeric::text, false)"),
            {"o": a.org_id, "u": a.member_id},
        )
        session.commit()
        assert session.execute(MEMBERSHIP).all() == []
        assert session.execute(sa.text("SELECT tenantkit.current_user_id()")).scalar() is None
        session.rollback()
        session.connection().invalidate()  # leave no session-level values in the pool


# STRICT: an outer join under the view (0012's key probe is a LEFT JOIN) is then
# reduced to an inner one, and the qual may be pushed down to the memberships
# scan, unless the view is a security barrier.
LEAK = """
CREATE FUNCTION pg_temp.leak(o uuid, u uuid) RETURNS boolean
    LANGUAGE plpgsql STRICT COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'seen % %', o, u;
    RETURN true;
END $$;
"""


def _seen_by_a_leaky_function(
    app_engine: sa.Engine, seed: TwoOrgs
) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    a = seed.a
    with tenant_context(a.context(a.member_id)), app_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None

        def note(diag: psycopg.errors.Diagnostic) -> None:
            parts = (diag.message_primary or "").split()
            if parts[:1] == ["seen"]:
                seen.add((parts[1], parts[2]))

        raw.add_notice_handler(note)
        try:
            conn.execute(sa.text(LEAK))
            # The attacker's own planner settings: no index to narrow the rows
            # first, and a nested loop, whose join filter sees every pair.
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan",
                            "enable_hashjoin", "enable_mergejoin"):
                conn.execute(sa.text(f"SET LOCAL {setting} = off"))
            conn.execute(sa.text(
                "SELECT count(*) FROM tenantkit.current_membership AS m "
                "WHERE pg_temp.leak(m.org_id, m.user_id)"))
            conn.execute(sa.text("SELECT 1"))
        finally:
            raw.remove_notice_handler(note)
            conn.rollback()
            conn.invalidate()  # the temp schema goes with the connection
    return seen


def test_a_leaky_function_of_the_app_role_sees_only_the_bound_row(
    app_engine: sa.Engine, seed: TwoOrgs, app_may_create_temp: None
) -> None:
    seen = _seen_by_a_leaky_function(app_engine, seed)
    assert seen <= {(seed.a.org_id, seed.a.member_id)}, seen


def test_without_security_barrier_the_leaky_function_would_see_other_memberships(
    app_engine: sa.Engine, seed: TwoOrgs, app_may_create_temp: None,
    tenantkit_db: TestDatabase,
) -> None:
    # The protection switched off: the planner pushes the cheap leaky qual
    # below the view's WHERE, and it reads other members' (org, user) pairs.
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute("ALTER VIEW tenantkit.current_membership SET (security_barrier = false)")
    try:
        seen = _seen_by_a_leaky_function(app_engine, seed)
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as conn:
            conn.execute("ALTER VIEW tenantkit.current_membership SET (security_barrier = true)")
    # Rows of members other than the bound one (which, depends on the plan).
    assert seen - {(seed.a.org_id, seed.a.member_id)}, seen


@pytest.fixture
def evil_schema(tenantkit_db: TestDatabase) -> Iterator[str]:
    """A schema the app role may create in (public before PostgreSQL 15 was one)."""
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tk_evil")
        conn.execute(f'GRANT USAGE, CREATE ON SCHEMA tk_evil TO "{tenantkit_db.roles.app}"')
    try:
        yield "tk_evil"
    finally:
        with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
            conn.execute("DROP SCHEMA tk_evil CASCADE")


EVIL = """
CREATE FUNCTION tk_evil.always(a text, b text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR tk_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tk_evil.always);
CREATE FUNCTION tk_evil.current_setting(text, boolean) RETURNS text
    LANGUAGE sql STABLE AS 'SELECT ''stamp''';
CREATE TABLE tk_evil.memberships (org_id uuid, user_id uuid, role text,
    additional_roles text[], status text);
"""


def test_search_path_objects_change_neither_the_view_nor_current_user_id(
    app_sessions: sessionmaker[Session], cost_items: TwoOrgs, evil_schema: str
) -> None:
    a = cost_items.a
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        session.execute(sa.text(EVIL))
        session.execute(sa.text("SET LOCAL search_path = tk_evil, pg_catalog"))
        # The binding stamp no longer matches (as after a session-level binding):
        # an `=` that is always true or a current_setting() of its own would
        # pass the check, if the body were parsed now.
        session.execute(sa.text("SELECT pg_catalog.set_config('tenantkit.bound', 'x', true)"))
        assert session.execute(sa.text("SELECT tenantkit.current_user_id()")).scalar() is None
        assert session.execute(sa.text("SELECT tenantkit.bound_user_id()")).scalar() is None
        assert session.execute(MEMBERSHIP).all() == []
        assert session.execute(sa.text("SELECT count(*) FROM public.cost_items")).scalar() == 0
        session.rollback()


def _count(session: Session) -> int:
    return int(session.execute(sa.text("SELECT count(*) FROM public.notes")).scalar_one())


def test_read_committed_a_removed_membership_ends_at_the_next_statement(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert _count(session) > 0
        with service_engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE tenantkit.memberships SET status = 'inactive' "
                        "WHERE org_id = :o AND user_id = :u"),
                {"o": a.org_id, "u": a.member_id},
            )
        assert _count(session) == 0  # same transaction, next statement
        session.rollback()


def test_repeatable_read_a_removed_membership_ends_at_the_next_transaction(
    tenantkit_db: TestDatabase, service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    engine = tenantkit.create_engine(
        tenantkit_db.url("app"), isolation_level="REPEATABLE READ", poolclass=sa.NullPool
    )
    count = sa.text("SELECT count(*) FROM public.notes")
    try:
        with tenant_context(a.context(a.member_id)), engine.connect() as conn:
            before = conn.execute(count).scalar_one()
            assert before > 0
            with service_engine.begin() as service:
                service.execute(
                    sa.text("DELETE FROM tenantkit.memberships "
                            "WHERE org_id = :o AND user_id = :u"),
                    {"o": a.org_id, "u": a.member_id},
                )
            assert conn.execute(count).scalar_one() == before  # the transaction's snapshot
            conn.rollback()
            assert conn.execute(count).scalar_one() == 0  # the next transaction
            conn.rollback()
    finally:
        engine.dispose()
