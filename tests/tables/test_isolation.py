"""Cross-tenant attacks on the generated policies (security.md §7, groups C and D).

Every attack runs as org A's Owner (the most privileged end user) against
seeded rows of org B. Writes fail with the exact SQLSTATE, and a superuser
re-count (or a full snapshot) shows nothing changed. Reads and deletes of
invisible rows raise nothing by design: they affect zero rows.
"""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.tables.app.fixtures import AppData
from tests.tables.app.models import Document
from tests.tables.helpers import acting, count, refused, scalar, snapshot

pytestmark = pytest.mark.usefixtures("app_data")

Su = psycopg.Connection[tuple[object, ...]]
TENANT_TABLES = ["documents", "comments", "projects"]


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_read_shows_only_the_bound_org(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, table: str
) -> None:
    a, b = app_data.a, app_data.b
    with acting(app_engine_t, a.ctx("Member")) as conn:
        rows = conn.execute(sa.text(f"SELECT org_id::text, count(*) FROM {table} GROUP BY 1"))
        seen = {org: n for org, n in rows}
        asked = scalar(conn, f"SELECT count(*) FROM {table} WHERE org_id = :b", b=b.org.org_id)
    assert seen == {a.org.org_id: count(su, table, a.org.org_id)}
    assert asked == 0


def test_other_orgs_row_by_primary_key_is_invisible(
    app_engine_t: sa.Engine, app_data: AppData
) -> None:
    b = app_data.b
    with acting(app_engine_t, app_data.a.ctx("Owner")) as conn:
        found = scalar(
            conn,
            "SELECT count(*) FROM documents WHERE org_id = :org AND id = :id",
            org=b.org.org_id,
            id=b.documents[0],
        )
    assert found == 0


def test_no_context_sees_nothing_and_writes_nothing(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    before = snapshot(su, "documents")
    with acting(app_engine_t, None) as conn:
        assert scalar(conn, "SELECT count(*) FROM documents") == 0
    # The tenant column defaults to current_org_id(), NULL here; the policy's
    # WITH CHECK runs before the NOT NULL constraint.
    with refused("42501"), acting(app_engine_t, None) as conn:
        conn.execute(sa.text("INSERT INTO documents (title) VALUES ('orphan')"))
    with refused("42501"), acting(app_engine_t, None) as conn:
        conn.execute(
            sa.text("INSERT INTO documents (org_id, title) VALUES (:b, 'planted')"),
            {"b": app_data.b.org.org_id},
        )
    assert snapshot(su, "documents") == before


INSERTS = {
    "documents": "INSERT INTO documents (org_id, title) VALUES (:b, 'planted')",
    "comments": "INSERT INTO comments (org_id, document_id, body) VALUES (:b, :b_doc, 'planted')",
    "projects": "INSERT INTO projects (org_id, slug) VALUES (:b, 'planted')",
}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_insert_into_other_org_is_refused(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, table: str
) -> None:
    b = app_data.b
    before = snapshot(su, table)
    with refused("42501"), acting(app_engine_t, app_data.a.ctx("Owner"), commit=True) as conn:
        conn.execute(sa.text(INSERTS[table]), {"b": b.org.org_id, "b_doc": b.documents[0]})
    assert snapshot(su, table) == before


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_delete_of_other_org_touches_nothing(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, table: str
) -> None:
    b = app_data.b
    before = snapshot(su, table)
    with acting(app_engine_t, app_data.a.ctx("Owner"), commit=True) as conn:
        by_org = conn.execute(
            sa.text(f"DELETE FROM {table} WHERE org_id = :b"), {"b": b.org.org_id}
        )
        assert by_org.rowcount == 0
    assert snapshot(su, table) == before


@pytest.mark.parametrize("verb", ["DELETE FROM documents", "UPDATE documents SET title = 'pwned'"])
def test_other_orgs_row_by_primary_key_cannot_be_changed(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, verb: str
) -> None:
    b = app_data.b
    before = snapshot(su, "documents")
    with acting(app_engine_t, app_data.a.ctx("Owner"), commit=True) as conn:
        for where in ("id = :id", "org_id = :b AND id = :id"):
            result = conn.execute(
                sa.text(f"{verb} WHERE {where}"), {"id": b.documents[0], "b": b.org.org_id}
            )
            assert result.rowcount == 0
    assert snapshot(su, "documents") == before


MOVES = {
    "with WHERE": "UPDATE {table} SET org_id = :b WHERE id = :id",
    "without WHERE": "UPDATE {table} SET org_id = :b",
    "with RETURNING": "UPDATE {table} SET org_id = :b WHERE id = :id RETURNING *",
}


# documents refuses through its trigger first; projects has no trigger, so
# there the restrictive policy's WITH CHECK alone refuses.
@pytest.mark.parametrize("form", MOVES)
@pytest.mark.parametrize("table", ["documents", "projects"])
def test_update_cannot_move_rows_to_another_org(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, table: str, form: str
) -> None:
    a, b = app_data.a, app_data.b
    row_id = a.documents[0] if table == "documents" else a.projects["alpha"]
    before = snapshot(su, table)
    with refused("42501"), acting(app_engine_t, a.ctx("Owner"), commit=True) as conn:
        conn.execute(sa.text(MOVES[form].format(table=table)), {"b": b.org.org_id, "id": row_id})
    assert snapshot(su, table) == before


def test_upsert_onto_a_hidden_row_is_refused(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    b = app_data.b
    before = snapshot(su, "documents")
    with refused("42501"), acting(app_engine_t, app_data.a.ctx("Owner"), commit=True) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO documents (org_id, id, title) VALUES (:b, :id, 'pwned') "
                "ON CONFLICT (org_id, id) DO UPDATE SET title = excluded.title"
            ),
            {"b": b.org.org_id, "id": b.documents[0]},
        )
    assert snapshot(su, "documents") == before


def test_upsert_in_own_org_never_reaches_the_hidden_row(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    # The key includes the org: B's id in A's org is a different row.
    a, b = app_data.a, app_data.b
    before = snapshot(su, "documents")
    with acting(app_engine_t, a.ctx("Owner")) as conn:
        org = conn.execute(
            sa.text(
                "INSERT INTO documents (id, title) VALUES (:id, 'mine') "
                "ON CONFLICT (org_id, id) DO UPDATE SET title = 'pwned' RETURNING org_id::text"
            ),
            {"id": b.documents[0]},
        ).scalar_one()
        assert org == a.org.org_id
    assert snapshot(su, "documents") == before


def test_merge_into_other_org_is_refused(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    b = app_data.b
    before = snapshot(su, "documents")
    # B's row is invisible, so it is NOT MATCHED, and the INSERT into B is refused.
    with refused("42501"), acting(app_engine_t, app_data.a.ctx("Owner"), commit=True) as conn:
        conn.execute(
            sa.text(
                "MERGE INTO documents AS d "
                "USING (SELECT CAST(:b AS uuid) AS org_id, CAST(:id AS uuid) AS id) AS s "
                "ON d.org_id = s.org_id AND d.id = s.id "
                "WHEN MATCHED THEN UPDATE SET title = 'pwned' "
                "WHEN NOT MATCHED THEN INSERT (org_id, id, title) VALUES (s.org_id, s.id, 'pwned')"
            ),
            {"b": b.org.org_id, "id": b.documents[0]},
        )
    assert snapshot(su, "documents") == before


def test_merge_cannot_move_own_row_to_another_org(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    a, b = app_data.a, app_data.b
    before = snapshot(su, "projects")
    with refused("42501"), acting(app_engine_t, a.ctx("Owner"), commit=True) as conn:
        conn.execute(
            sa.text(
                "MERGE INTO projects AS p USING (SELECT CAST(:id AS uuid) AS id) AS s "
                "ON p.id = s.id WHEN MATCHED THEN UPDATE SET org_id = :b"
            ),
            {"b": b.org.org_id, "id": a.projects["alpha"]},
        )
    assert snapshot(su, "projects") == before


def test_copy_from_is_refused(app_engine_t: sa.Engine, app_data: AppData, su: Su) -> None:
    a = app_data.a
    before = snapshot(su, "documents")
    with refused("0A000"), acting(app_engine_t, a.ctx("Owner"), commit=True) as conn:
        conn.execute(sa.text("SELECT 1"))  # the transaction, and its binding, start here
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with driver.cursor().copy("COPY documents (org_id, title) FROM STDIN") as copy:
            copy.write_row((a.org.org_id, "copied"))
    assert snapshot(su, "documents") == before


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_truncate_is_refused(
    app_engine_t: sa.Engine, app_data: AppData, su: Su, table: str
) -> None:
    before = {org.org.org_id: count(su, table, org.org.org_id) for org in (app_data.a, app_data.b)}
    with refused("42501"), acting(app_engine_t, app_data.a.ctx("Owner"), commit=True) as conn:
        conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    assert {org: count(su, table, org) for org in before} == before


def test_tenant_column_defaults_to_the_bound_org(
    app_engine_t: sa.Engine, app_data: AppData
) -> None:
    a = app_data.a
    with acting(app_engine_t, a.ctx("Member")) as conn:
        org = conn.execute(
            sa.text("INSERT INTO documents (title) VALUES ('mine') RETURNING org_id::text")
        ).scalar_one()
    assert org == a.org.org_id
    # The ORM leaves the column to the database and reads it back.
    with acting(app_engine_t, a.ctx("Member")) as conn, Session(bind=conn) as session:
        document = Document(title="through the ORM")
        session.add(document)
        session.flush()
        assert str(document.org_id) == a.org.org_id


def test_trigger_refuses_tenant_change_even_for_a_superuser(app_data: AppData, su: Su) -> None:
    a, b = app_data.a, app_data.b
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="cannot be changed"):
        su.execute("UPDATE documents SET org_id = %s WHERE id = %s", (b.org.org_id, a.documents[0]))
    row = su.execute("SELECT org_id::text FROM documents WHERE id = %s", (a.documents[0],))
    assert row.fetchone() == (a.org.org_id,)
