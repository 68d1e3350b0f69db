"""Role rules of the fixture app hold in the database (PropelAuth semantics)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa

from tests.tables.app.fixtures import AppData, OrgRows
from tests.tables.helpers import acting, refused

pytestmark = pytest.mark.usefixtures("app_data")

Su = psycopg.Connection[tuple[object, ...]]


def _new_document(su: Su, org: OrgRows) -> str:
    doc = str(uuid.uuid4())
    su.execute(
        "INSERT INTO documents (org_id, id, title) VALUES (%s, %s, 'disposable')",
        (org.org.org_id, doc),
    )
    return doc


def _exists(su: Su, table: str, row_id: str) -> bool:
    row = su.execute(f"SELECT count(*) FROM {table} WHERE id = %s", (row_id,)).fetchone()
    return row == (1,)


def _delete(engine: sa.Engine, ctx: object, table: str, row_id: str) -> int:
    with acting(engine, ctx, commit=True) as conn:  # type: ignore[arg-type]
        return conn.execute(sa.text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id}).rowcount


def test_member_cannot_delete_where_the_rule_says_admin(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    a = app_data.a
    doc = _new_document(su, a)
    assert _delete(app_engine_t, a.ctx("Member"), "documents", doc) == 0
    assert _exists(su, "documents", doc)
    assert _delete(app_engine_t, a.ctx("Admin"), "documents", doc) == 1
    assert not _exists(su, "documents", doc)


def test_the_role_is_the_one_held_in_the_bound_org(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    # The shared user is Member in A and Admin in B.
    a, b, shared = app_data.a, app_data.b, app_data.shared_user_id
    doc_a, doc_b = _new_document(su, a), _new_document(su, b)
    assert _delete(app_engine_t, a.org.context(shared), "documents", doc_a) == 0
    assert _delete(app_engine_t, b.org.context(shared), "documents", doc_b) == 1
    assert _exists(su, "documents", doc_a)


def test_exact_role_owner_deletes_projects_admin_does_not(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    a = app_data.a
    project = str(uuid.uuid4())
    su.execute(
        "INSERT INTO projects (org_id, id, slug) VALUES (%s, %s, %s)",
        (a.org.org_id, project, f"p-{project[:8]}"),
    )
    assert _delete(app_engine_t, a.ctx("Admin"), "projects", project) == 0
    assert _delete(app_engine_t, a.ctx("Owner"), "projects", project) == 1


def test_minimum_role_admin_to_create_projects(app_engine_t: sa.Engine, app_data: AppData) -> None:
    a = app_data.a
    insert = sa.text("INSERT INTO projects (org_id, slug) VALUES (:org, :slug)")
    with refused("42501"), acting(app_engine_t, a.ctx("Member")) as conn:
        conn.execute(insert, {"org": a.org.org_id, "slug": "by-member"})
    with acting(app_engine_t, a.ctx("Admin")) as conn:
        assert conn.execute(insert, {"org": a.org.org_id, "slug": "by-admin"}).rowcount == 1


def test_all_permissions_to_update_projects(app_engine_t: sa.Engine, app_data: AppData) -> None:
    a = app_data.a
    update = sa.text("UPDATE projects SET plan_code = 'pro' WHERE id = :id")
    with acting(app_engine_t, a.ctx("Member")) as conn:
        assert conn.execute(update, {"id": a.projects["alpha"]}).rowcount == 0
    with acting(app_engine_t, a.ctx("Admin")) as conn:
        assert conn.execute(update, {"id": a.projects["alpha"]}).rowcount == 1


def test_custom_sql_rule_only_authors_edit_their_comments(
    app_engine_t: sa.Engine, app_data: AppData
) -> None:
    a = app_data.a  # the seeded comments are written by A's Member
    update = sa.text("UPDATE comments SET body = 'edited' WHERE id = :id")
    with acting(app_engine_t, a.ctx("Owner")) as conn:
        assert conn.execute(update, {"id": a.comments[0]}).rowcount == 0
    with acting(app_engine_t, a.ctx("Member")) as conn:
        assert conn.execute(update, {"id": a.comments[0]}).rowcount == 1


def test_permission_or_authorship_to_delete_comments(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    a = app_data.a
    comment = str(uuid.uuid4())
    su.execute(
        "INSERT INTO comments (org_id, id, document_id, author_id, body) "
        "VALUES (%s, %s, %s, %s, 'by the admin')",
        (a.org.org_id, comment, a.documents[0], a.org.admin_id),
    )
    # Member: neither the author nor can_update_org. Owner: has the permission.
    assert _delete(app_engine_t, a.ctx("Member"), "comments", comment) == 0
    assert _delete(app_engine_t, a.ctx("Owner"), "comments", comment) == 1


def test_orm_session_reaches_only_the_bound_org(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    from sqlalchemy.orm import Session

    from tests.tables.app.models import Document

    a, b = app_data.a, app_data.b
    with acting(app_engine_t, a.ctx("Member"), commit=True) as conn, Session(bind=conn) as s:
        assert s.get(Document, (b.org.org_id, b.documents[1])) is None
        mine = s.get(Document, (a.org.org_id, a.documents[1]))
        assert mine is not None and mine.title == a.titles[1]
        mine.title = "renamed by a member"
        s.flush()
    row = su.execute("SELECT title FROM documents WHERE id = %s", (a.documents[1],)).fetchone()
    assert row == ("renamed by a member",)
    su.execute("UPDATE documents SET title = %s WHERE id = %s", (a.titles[1], a.documents[1]))
