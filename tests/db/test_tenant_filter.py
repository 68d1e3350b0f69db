"""The ORM tenant filter (tenantkit.db.tenant_filter): the bound org as an
explicit WHERE on declared tenant tables, for the planner; the policy stays
the guarantee (rows are the same with the filter off)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from tenantkit import tenant_context
from tenantkit.db import tenant_filter
from tests.tables.app.fixtures import AppData
from tests.tables.app.models import Document

pytestmark = pytest.mark.usefixtures("app_data")


@pytest.fixture
def statements(app_engine_t: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        seen.append((statement, params))

    event.listen(app_engine_t, "before_cursor_execute", note)
    yield seen
    event.remove(app_engine_t, "before_cursor_execute", note)


def _filtered(statement: str, params: Any, org_id: str) -> bool:
    values = params.values() if isinstance(params, dict) else params
    return "documents.org_id = " in statement and uuid.UUID(org_id) in list(values)


def test_orm_selects_carry_the_bound_org(
    app_engine_t: sa.Engine, app_data: AppData, statements: list[tuple[str, Any]]
) -> None:
    a = app_data.a
    with tenant_context(a.ctx("Member")), Session(app_engine_t) as session:
        docs = session.scalars(sa.select(Document)).all()
    assert docs and {str(d.org_id) for d in docs} == {a.org.org_id}
    selects = [(s, p) for s, p in statements if s.lstrip().startswith("SELECT")]
    assert selects and all(_filtered(s, p, a.org.org_id) for s, p in selects), selects


def test_orm_update_and_delete_carry_it_too(
    app_engine_t: sa.Engine, app_data: AppData, statements: list[tuple[str, Any]]
) -> None:
    a = app_data.a
    with tenant_context(a.ctx("Admin")), Session(app_engine_t) as session:
        session.execute(
            sa.update(Document).where(Document.title == "no such title").values(title="x")
        )
        session.execute(sa.delete(Document).where(Document.title == "no such title"))
        session.rollback()
    writes = [(s, p) for s, p in statements if s.lstrip().startswith(("UPDATE", "DELETE"))]
    assert len(writes) == 2 and all(_filtered(s, p, a.org.org_id) for s, p in writes), writes


@pytest.mark.parametrize("how", ["session", "statement", "disable"])
def test_opting_out_drops_the_filter_not_the_isolation(
    app_engine_t: sa.Engine, app_data: AppData, statements: list[tuple[str, Any]], how: str
) -> None:
    a = app_data.a
    info = {tenant_filter.FILTER_OPTION: False} if how == "session" else {}
    query = sa.select(Document)
    if how == "statement":
        query = query.execution_options(tenantkit_filter=False)
    with tenant_context(a.ctx("Member")), Session(app_engine_t, info=info) as session:
        if how == "disable":
            tenant_filter.disable(session)
        docs = session.scalars(query).all()
    assert docs and {str(d.org_id) for d in docs} == {a.org.org_id}  # the policy
    assert not any("documents.org_id = " in s for s, _ in statements), statements


def test_no_context_no_filter_and_no_rows(
    app_engine_t: sa.Engine, statements: list[tuple[str, Any]]
) -> None:
    with Session(app_engine_t) as session:
        assert session.scalars(sa.select(Document)).all() == []
    assert not any("documents.org_id = " in s for s, _ in statements)


def test_other_engines_are_left_alone(
    app_engine_t: sa.Engine, owner_engine_t: sa.Engine, app_data: AppData,
    statements: list[tuple[str, Any]],
) -> None:
    a = app_data.a
    seen: list[str] = []
    event.listen(owner_engine_t, "before_cursor_execute",
                 lambda c, cu, s, *rest: seen.append(s))
    with tenant_context(a.ctx("Member")), Session(owner_engine_t) as session:
        session.scalars(sa.select(Document).limit(1)).all()
    assert any("FROM documents" in s for s in seen), seen
    assert not any("documents.org_id = " in s for s in seen), seen


def test_the_planner_sees_the_org(
    app_engine_t: sa.Engine, app_data: AppData, statements: list[tuple[str, Any]]
) -> None:
    # With the filter, the org is a parameter the planner plans with (its own
    # estimate for this org), not only the policy's InitPlan.
    a = app_data.a
    with tenant_context(a.ctx("Member")), Session(app_engine_t) as session:
        session.scalars(sa.select(Document).order_by(Document.created_at).limit(50)).all()
        statement, params = next((s, p) for s, p in statements if s.startswith("SELECT"))
        raw = session.connection().exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement, params).scalar_one()
    plan = json.dumps(raw)
    assert "org_id = '" + a.org.org_id + "'::uuid" in plan, plan


def test_a_reused_statement_gets_the_same_filtered_twin_for_every_org(
    app_engine_t: sa.Engine, app_data: AppData, statements: list[tuple[str, Any]]
) -> None:
    # The criteria carry the org as a parameter: one statement (and one cached
    # compilation) for every org, each execution with its own bound org.
    query = sa.select(Document).limit(5)
    for rows in (app_data.a, app_data.b, app_data.a):
        with tenant_context(rows.ctx("Member")), Session(app_engine_t) as session:
            docs = session.scalars(query).all()
        assert docs and {str(d.org_id) for d in docs} == {rows.org.org_id}
    selects = [(s, p) for s, p in statements if s.lstrip().startswith("SELECT")]
    assert len({s for s, _ in selects}) == 1
    orgs = [rows.org.org_id for rows in (app_data.a, app_data.b, app_data.a)]
    assert all(_filtered(s, p, org) for (s, p), org in zip(selects, orgs, strict=True))
