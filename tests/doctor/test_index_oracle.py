"""Check 15: every index of a tenant table not led by the tenant column is a warning.

(tests/db/test_threat_model.py measures the oracle such an index opens.)
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantkit.doctor import Finding
from tenantkit.doctor._checks import index_oracle_fix
from tenantkit.testing import TestDatabase
from tests.doctor.helpers import apply_fix, as_superuser, of_check

pytestmark = pytest.mark.usefixtures("notes")


def oracles(conn: sa.Connection, db: TestDatabase) -> list[Finding]:
    # Only public.notes: other tests' tables are not this test's business.
    return [f for f in of_check(conn, db, "index-oracle") if "index on notes " in f.problem]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX notes_body_idx ON public.notes (body)",
        "CREATE INDEX notes_body_idx ON public.notes (body, org_id)",
        # (body, id): unique whatever bodies other tests left in notes (the order of a run)
        "CREATE UNIQUE INDEX notes_body_idx ON public.notes (body, id)",
        "CREATE INDEX notes_body_idx ON public.notes (lower(body)) WHERE body <> ''",
        "CREATE INDEX notes_body_idx ON public.notes (body) INCLUDE (id)",
    ],
)
def test_index_not_led_by_the_tenant_column(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase, statement: str
) -> None:
    with as_superuser(admin_engine, tenantkit_db, statement) as conn:
        found = oracles(conn, tenantkit_db)
        assert [(f.severity, f.object) for f in found] == [("warning", "notes_body_idx")]
        assert "Rows Removed by Filter" in found[0].problem
        assert found[0].fix.startswith("DROP INDEX notes_body_idx; CREATE ")
        assert "(org_id, " in found[0].fix
        apply_fix(conn, found[0])
        assert oracles(conn, tenantkit_db) == []
        # The rebuilt index has the same name and is led by org_id.
        definition = conn.execute(
            sa.text("SELECT pg_get_indexdef('public.notes_body_idx'::regclass)")
        ).scalar_one()
        assert "(org_id, " in definition


def test_indexes_led_by_the_tenant_column_pass(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    statements = (
        "CREATE INDEX ON public.notes (org_id, body)",
        "CREATE INDEX ON public.notes (org_id) WHERE body <> ''",
    )
    with as_superuser(admin_engine, tenantkit_db, *statements) as conn:
        assert oracles(conn, tenantkit_db) == []


def test_constraint_index_gets_a_reordering_advice(
    admin_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    statement = "ALTER TABLE public.notes ADD CONSTRAINT notes_body_key UNIQUE (body, org_id)"
    with as_superuser(admin_engine, tenantkit_db, statement) as conn:
        found = oracles(conn, tenantkit_db)
    assert [f.object for f in found] == ["notes_body_key"]
    assert found[0].fix.startswith("recreate constraint notes_body_key with org_id first")


@pytest.mark.nodb
def test_fix_for_other_access_methods() -> None:
    gin = "CREATE INDEX t_tags_idx ON public.t USING gin (tags)"
    assert index_oracle_fix("t_tags_idx", gin, "org_id", "gin", None) == (
        "DROP INDEX t_tags_idx; CREATE INDEX t_tags_idx ON public.t USING gin (org_id, tags);"
        "  -- gin needs the btree_gin extension for org_id"
    )
    hashed = "CREATE INDEX t_h_idx ON public.t USING hash (email)"
    assert index_oracle_fix("t_h_idx", hashed, "org_id", "hash", None).startswith(
        "rebuild it as a btree index led by org_id"
    )
