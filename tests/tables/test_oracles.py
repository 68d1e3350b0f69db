"""Existence oracles and side channels (security.md §7 group D).

Composite keys close the unique and foreign-key oracles; a non-leakproof
function in WHERE only ever receives the bound org's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tests.tables.app.fixtures import AppData
from tests.tables.helpers import acting, refused, snapshot

pytestmark = pytest.mark.usefixtures("app_data")

Su = psycopg.Connection[tuple[object, ...]]


def test_same_slug_works_in_both_orgs(app_engine_t: sa.Engine, app_data: AppData) -> None:
    # "only-b" exists in org B; org A can take it: uniqueness is per org.
    with acting(app_engine_t, app_data.a.ctx("Admin")) as conn:
        conn.execute(
            sa.text("INSERT INTO projects (org_id, slug) VALUES (:a, 'only-b')"),
            {"a": app_data.a.org.org_id},
        )


def test_duplicate_slug_in_the_same_org_is_refused(
    app_engine_t: sa.Engine, app_data: AppData
) -> None:
    with refused("23505"), acting(app_engine_t, app_data.a.ctx("Admin")) as conn:
        conn.execute(
            sa.text("INSERT INTO projects (org_id, slug) VALUES (:a, 'alpha')"),
            {"a": app_data.a.org.org_id},
        )


def _comment_on(engine: sa.Engine, data: AppData, document_id: str) -> psycopg.Error:
    with refused("23503") as caught, acting(engine, data.a.ctx("Member")) as conn:
        conn.execute(
            sa.text("INSERT INTO comments (document_id, body) VALUES (:doc, 'probe')"),
            {"doc": document_id},
        )
    return caught[0]


def test_foreign_key_to_other_orgs_row_fails_like_a_missing_one(
    app_engine_t: sa.Engine, app_data: AppData, su: Su
) -> None:
    before = snapshot(su, "comments")
    hidden = _comment_on(app_engine_t, app_data, app_data.b.documents[0])
    missing = _comment_on(app_engine_t, app_data, str(uuid.uuid4()))
    assert hidden.diag.message_primary == missing.diag.message_primary
    # Under RLS, PostgreSQL leaves the key values out of the detail.
    assert hidden.diag.message_detail == missing.diag.message_detail
    assert app_data.b.documents[0] not in str(hidden)
    assert snapshot(su, "comments") == before


@pytest.fixture
def leak_function(tables_db: object, su: Su) -> Iterator[str]:
    """A plpgsql function that reports every value it is called with, as a NOTICE."""
    name = f"leak_{uuid.uuid4().hex[:8]}"
    su.execute(
        f"CREATE FUNCTION public.{name}(text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 "
        f"AS $$ BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$"
    )
    su.execute(f"GRANT EXECUTE ON FUNCTION public.{name}(text) TO PUBLIC")
    try:
        yield name
    finally:
        su.execute(f"DROP FUNCTION public.{name}(text)")


def _notices(engine: sa.Engine, data: AppData, function: str) -> list[str]:
    seen: list[str] = []
    with acting(engine, data.a.ctx("Member")) as conn:
        conn.execute(sa.text("SELECT 1"))
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)

        def collect(diag: psycopg.errors.Diagnostic) -> None:
            seen.append(str(diag.message_primary))

        driver.add_notice_handler(collect)
        try:
            conn.execute(sa.text(f"SELECT id FROM documents WHERE {function}(title)")).all()
        finally:
            driver.remove_notice_handler(collect)
    return seen


def test_leaky_function_never_sees_other_orgs_rows(
    app_engine_t: sa.Engine, app_data: AppData, leak_function: str, su: Su
) -> None:
    seen = _notices(app_engine_t, app_data, leak_function)
    assert {f"saw {t}" for t in app_data.a.titles} <= set(seen)
    assert not [n for n in seen if "b-secret" in n]
    row = su.execute("SELECT count(*) FROM documents WHERE org_id = %s", (app_data.a.org.org_id,))
    assert len(seen) == row.fetchone()[0]  # type: ignore[index]


def test_the_probe_would_catch_a_leakproof_function(
    app_engine_t: sa.Engine, app_data: AppData, leak_function: str, su: Su
) -> None:
    # The control: a LEAKPROOF function may run before the policy, and then it
    # does see org B (what doctor check 8 is for). Proves the probe can fail.
    su.execute(f"ALTER FUNCTION public.{leak_function}(text) LEAKPROOF")
    seen = _notices(app_engine_t, app_data, leak_function)
    assert [n for n in seen if "b-secret" in n]
