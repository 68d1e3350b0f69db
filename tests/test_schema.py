"""`tenantkit.schema` (and the events tables) agree with the migrated database, and the
org and user records agree with their tables.

The DDL lives in `sql/`; `schema.py` only mirrors it for queries, and the records
in `tenantkit.orgs.models` define what the service (and through it the REST API)
reads of each row. A column added in a migration but not here, or typed
differently, or a record field without its column, fails here.
"""

from __future__ import annotations

import dataclasses
import types
import typing

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tenantkit import schema
from tenantkit.events import _tables as event_tables
from tenantkit.orgs import models
from tenantkit.testing import TestDatabase

Live = dict[tuple[str, str], tuple[str, bool]]  # (table, column) -> (type, nullable)

MIRRORED = [*schema.metadata.tables.values(), *event_tables.metadata.tables.values()]
#: Records that read a whole row: their fields are exactly the table's columns
#: (beyond the ones named, which the service computes).
WHOLE_ROWS = [(models.Org, schema.orgs, set()), (models.User, schema.users, {"orgs"})]


@pytest.fixture(scope="module")
def live(tenantkit_db: TestDatabase) -> Live:
    with psycopg.connect(tenantkit_db.conninfo("admin")) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull"
            " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
            " WHERE c.relnamespace = 'tenantkit'::regnamespace AND c.relkind = 'r'"
            " AND a.attnum > 0 AND NOT a.attisdropped"
        ).fetchall()
    return {(str(t), str(c)): (str(kind), bool(nullable)) for t, c, kind, nullable in rows}


@pytest.mark.parametrize("table", MIRRORED, ids=lambda t: t.name)
def test_every_mirrored_table_has_the_database_columns(live: Live, table: sa.Table) -> None:
    in_database = {column for (name, column) in live if name == table.name}
    assert {c.name for c in table.columns} == in_database


@pytest.mark.parametrize("table", MIRRORED, ids=lambda t: t.name)
def test_every_mirrored_column_has_the_database_type_and_nullability(
    live: Live, table: sa.Table
) -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    for column in table.columns:
        kind, nullable = live[(table.name, column.name)]
        assert column.type.compile(dialect=dialect).lower() == kind, column
        assert bool(column.nullable) == nullable, column


@pytest.mark.parametrize(("record", "table", "computed"), WHOLE_ROWS, ids=["orgs", "users"])
def test_a_whole_row_record_has_a_field_per_column(
    record: type, table: sa.Table, computed: set[str]
) -> None:
    fields = {f.name for f in dataclasses.fields(record)}
    assert fields - computed == {c.name for c in table.columns}


@pytest.mark.parametrize(("record", "table", "computed"), WHOLE_ROWS, ids=["orgs", "users"])
def test_a_record_field_is_optional_exactly_where_its_column_is_nullable(
    record: type, table: sa.Table, computed: set[str]
) -> None:
    hints = typing.get_type_hints(record)
    for column in table.columns:
        hint = hints[column.name]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(
            None
        ) in typing.get_args(hint)
        assert optional == bool(column.nullable), column.name


def test_org_rules_cover_what_an_update_takes() -> None:
    assert set(models.ORG_RULES) >= models.ORG_UPDATABLE
    assert "org_id" not in models.ORG_RULES and "created_at" not in models.ORG_RULES
