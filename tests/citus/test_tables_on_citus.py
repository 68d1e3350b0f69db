"""What Citus itself refuses on the fixture app's distributed tables (the codes
differ from PostgreSQL's policies; nothing is written either way)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from tests.tables.app.fixtures import AppData
from tests.tables.helpers import acting, refused, scalar, snapshot

Su = psycopg.Connection[tuple[object, ...]]
MOVES = {
    "with WHERE": "UPDATE {table} SET org_id = :b WHERE id = :id",
    "without WHERE": "UPDATE {table} SET org_id = :b",
}


@pytest.mark.parametrize("form", MOVES)
@pytest.mark.parametrize("table", ["documents", "projects"])
def test_citus_refuses_moving_a_row_to_another_org(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, table: str, form: str
) -> None:
    # No trigger is needed (Citus refuses one on a distributed table): Citus
    # never updates a distribution column, for any role.
    a, b = app_data.a, app_data.b
    row_id = a.documents[0] if table == "documents" else a.projects["alpha"]
    before = snapshot(su, table)
    with refused("0A000"), acting(app_engine_t, a.ctx("Owner"), commit=True) as conn:
        conn.execute(sa.text(MOVES[form].format(table=table)), {"b": b.org.org_id, "id": row_id})
    with refused("0A000"):
        su.execute(f"UPDATE {table} SET org_id = %s WHERE id = %s", (b.org.org_id, row_id))
    assert snapshot(su, table) == before


def test_no_context_sees_nothing_and_writes_nothing_on_citus(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    before = snapshot(su, "documents")
    with acting(app_engine_t, None) as conn:
        assert scalar(conn, "SELECT count(*) FROM documents") == 0
    # The default is current_org_id(), NULL without context: Citus refuses a NULL
    # distribution value before any shard (22004); with an org, the policy (42501).
    with refused("22004"), acting(app_engine_t, None) as conn:
        conn.execute(sa.text("INSERT INTO documents (title) VALUES ('orphan')"))
    with refused("42501"), acting(app_engine_t, None) as conn:
        conn.execute(
            sa.text("INSERT INTO documents (org_id, title) VALUES (:b, 'planted')"),
            {"b": app_data.b.org.org_id},
        )
    assert snapshot(su, "documents") == before
