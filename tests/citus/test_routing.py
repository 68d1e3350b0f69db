"""Routing on Citus: ORM statements through tenantkit's sessions are router queries on
one shard (one task, one node) with no `WHERE org_id` in the app's code, because the
ORM tenant filter adds the bound org; raw multi-shard SQL stays correct under RLS.

The plan shape is read with EXPLAIN of the very SQL and parameters the session sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

import tenantkit
from tenantkit import TenantContext, tenant_context
from tenantkit.db import tenant_filter
from tenantkit.rls import TableName
from tenantkit.tables import Target, distribute
from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.testing._seed import seed_two_orgs
from tenantkit.testing.citus import CitusCluster
from tests.citus.conftest import create_app_tables, superuser_conn
from tests.citus.models import Doc

PER_ORG = 60


@pytest.fixture(scope="module")
def orgs(
    citus_cluster: CitusCluster, citus_db: TestDatabase, citus_owner: sa.Engine
) -> TwoOrgs:
    create_app_tables(citus_owner, citus_db)
    with citus_owner.begin() as conn:
        distribute(conn, [Target(TableName("plans")), Target(TableName("docs"), "org_id"),
                          Target(TableName("comments"), "org_id")])
        seeded = seed_two_orgs(conn)
    with superuser_conn(citus_cluster, citus_db) as conn:
        for org in (seeded.a, seeded.b):
            conn.execute(
                "INSERT INTO docs (org_id, title) SELECT %s, 'doc ' || i "
                "FROM generate_series(1, %s) AS i",
                (org.org_id, PER_ORG),
            )
    return seeded


@pytest.fixture(scope="module")
def app(citus_db: TestDatabase) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(citus_db.url("app"), binding="set_local", pool_size=1)
    yield engine
    engine.dispose()


class Sent:
    """The last application statement the engine sent, with its parameters."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._record)
        self.engine = engine

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not statement.startswith("EXPLAIN"):
            self.statements.append((statement, params))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


@pytest.fixture
def sent(app: sa.Engine) -> Iterator[Sent]:
    recorder = Sent(app)
    yield recorder
    recorder.close()


def explain(session: Session, statement: str, params: Any) -> str:
    connection = session.connection()
    rows = connection.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, params).all()
    return "\n".join(r[0] for r in rows)


def tasks(plan: str) -> tuple[int, set[str]]:
    count = re.search(r"Task Count: (\d+)", plan)
    assert count is not None, plan
    return int(count[1]), set(re.findall(r"Node: (host=\S+ port=\d+)", plan))


def _bound(orgs: TwoOrgs) -> TenantContext:
    return TenantContext(orgs.a.member_id, orgs.a.org_id)


def test_a_page_of_50_without_where_org_id_is_one_task_on_one_node(
    orgs: TwoOrgs, app: sa.Engine, sent: Sent
) -> None:
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        page = session.scalars(select(Doc).order_by(Doc.id).limit(50)).all()
        assert len(page) == 50
        assert {str(d.org_id) for d in page} == {orgs.a.org_id}
        statement, params = sent.statements[-1]
        assert "org_id" in statement.split("WHERE", 1)[1]  # the filter, not the app
        count, nodes = tasks(explain(session, statement, params))
    assert (count, len(nodes)) == (1, 1)


def test_a_primary_key_lookup_is_one_task_on_one_node(
    orgs: TwoOrgs, app: sa.Engine, sent: Sent
) -> None:
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        some = session.scalars(select(Doc.id).limit(1)).one()
        session.expunge_all()
        found = session.get(Doc, (uuid.UUID(orgs.a.org_id), some))
        assert found is not None
        statement, params = sent.statements[-1]
        count, nodes = tasks(explain(session, statement, params))
    assert (count, len(nodes)) == (1, 1)


def test_an_insert_is_one_task_on_one_node_and_lands_in_the_bound_org(
    orgs: TwoOrgs, app: sa.Engine, sent: Sent
) -> None:
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        doc = Doc(title="routed")  # org_id from the column default: the bound org
        session.add(doc)
        session.flush()
        assert str(doc.org_id) == orgs.a.org_id
        statement, params = sent.statements[-1]
        assert statement.startswith("INSERT")
        session.rollback()
    # EXPLAIN in a transaction of its own: after the insert ran, Citus refuses to
    # switch the transaction's local execution ("visibility problems"). With signed
    # binding, Citus's EXPLAIN of an INSERT evaluates the column default where the
    # binding does not verify ("NULL in the partition column"; the INSERT itself is
    # fine, above), so the plan is asked of the same INSERT with the org it landed in.
    explicit = statement.replace("INSERT INTO docs (", "INSERT INTO docs (org_id, ", 1)
    explicit = explicit.replace("VALUES (", "VALUES (%(org_id)s::UUID, ", 1)
    assert explicit != statement, statement
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        count, nodes = tasks(explain(session, explicit, {**params, "org_id": orgs.a.org_id}))
    assert (count, len(nodes)) == (1, 1)


def test_repeated_statements_stay_on_custom_plans_so_they_keep_routing(
    orgs: TwoOrgs, app: sa.Engine
) -> None:
    # psycopg prepares a statement from its 5th execution; Citus keeps choosing
    # custom plans (the bound org as a value), so pruning to one shard keeps working.
    query = select(Doc).order_by(Doc.id).limit(50)
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        for _ in range(8):
            assert len(session.scalars(query).all()) == 50
        plans = session.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%FROM docs%LIMIT%'"
            )
        ).all()
    assert plans, "psycopg prepared the page query"
    assert all(generic == 0 and custom >= 1 for generic, custom in plans)


def test_without_the_filter_the_query_fans_out_and_rls_still_keeps_org_b_out(
    orgs: TwoOrgs, app: sa.Engine, sent: Sent
) -> None:
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        tenant_filter.disable(session)
        rows = [str(d.org_id) for d in session.scalars(select(Doc)).all()]
        statement, params = sent.statements[-1]
        raw = session.execute(text("SELECT org_id, count(*) FROM docs GROUP BY 1")).all()
    with tenant_context(_bound(orgs)), Session(app) as session, session.begin():
        count, _ = tasks(explain(session, statement, params))
    assert count > 1, "a multi-shard query"
    assert set(rows) == {orgs.a.org_id}
    assert len(rows) == PER_ORG
    assert [(str(o), n) for o, n in raw] == [(orgs.a.org_id, PER_ORG)]


def test_org_b_bound_sees_only_org_b(orgs: TwoOrgs, app: sa.Engine) -> None:
    with tenant_context(TenantContext(orgs.b.member_id, orgs.b.org_id)), Session(app) as s:
        rows = s.scalars(select(Doc)).all()
        other = s.get(Doc, (uuid.UUID(orgs.a.org_id), rows[0].id))
    assert {str(d.org_id) for d in rows} == {orgs.b.org_id}
    assert other is None
