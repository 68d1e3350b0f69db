"""Declaring tenant and shared tables on SQLAlchemy models and Tables."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Column, FetchedValue, ForeignKeyConstraint, MetaData, Table, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantkit.rls import TableName, TenancySpec
from tenantkit.tables import (
    SharedTable,
    declaration_of,
    declarations,
    minimum_role,
    shared_table,
    tenant_foreign_key,
    tenant_table,
    tenant_unique,
)
from tests.tables.app.models import Base, Comment, Document, Plan, Project

pytestmark = pytest.mark.nodb


def table(
    metadata: MetaData, *extra: object, name: str = "t", pk: tuple[str, ...] = ("org_id", "id")
) -> Table:
    return Table(
        name,
        metadata,
        Column("org_id", Uuid, nullable=False, primary_key="org_id" in pk),
        Column("id", Uuid, primary_key="id" in pk),
        Column("slug", Text),
        *extra,  # type: ignore[arg-type]
    )


def test_declare_a_core_table() -> None:
    t = tenant_table(table(MetaData()), delete=minimum_role("Admin"))
    spec = declaration_of(t)
    assert isinstance(spec, TenancySpec)
    assert spec.delete == minimum_role("Admin")
    # The database fills the tenant column; SQLAlchemy must know it does.
    assert isinstance(t.c.org_id.server_default, FetchedValue)


def test_declare_models_with_the_decorator() -> None:
    found = declarations(Base.metadata)
    assert set(found) == {TableName("documents"), TableName("comments"), TableName("projects")}
    assert declaration_of(Plan) is None
    assert declaration_of(Document) == found[TableName("documents")]


def test_without_default_the_column_is_left_alone() -> None:
    assert Project.__table__.c.org_id.server_default is None
    assert isinstance(Comment.__table__.c.org_id.server_default, FetchedValue)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: table(m, pk=("id",)), "primary key"),
        (lambda m: Table("t", m, Column("id", Uuid, primary_key=True)), "no column"),
        (
            lambda m: Table(
                "t",
                m,
                Column("org_id", Text, primary_key=True),
                Column("id", Uuid, primary_key=True),
            ),
            "uuid",
        ),
        (
            lambda m: Table(
                "t", m, Column("org_id", Uuid, nullable=True), Column("id", Uuid, primary_key=True)
            ),
            "NOT NULL",
        ),
        (lambda m: table(m, Column("email", Text, unique=True)), "must include org_id"),
    ],
)
def test_mistakes_fail_when_the_model_loads(build: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        tenant_table(build(MetaData()))  # type: ignore[operator]


def test_rules_must_be_rules() -> None:
    with pytest.raises(TypeError):
        tenant_table(table(MetaData()), delete="Admin")  # type: ignore[arg-type]


def test_tenant_unique_and_foreign_key_include_the_tenant_column() -> None:
    metadata = MetaData()
    parent = tenant_table(table(metadata, tenant_unique("slug"), name="parent"))
    child = tenant_table(
        Table(
            "child",
            metadata,
            Column("org_id", Uuid, primary_key=True),
            Column("id", Uuid, primary_key=True),
            Column("parent_id", Uuid, nullable=False),
            tenant_foreign_key(["parent_id"], parent, ["id"], ondelete="CASCADE"),
        )
    )
    unique = [c for c in parent.constraints if c.__class__.__name__ == "UniqueConstraint"]
    assert [c.name for c in unique[0].columns] == ["org_id", "slug"]
    fk = next(c for c in child.constraints if isinstance(c, ForeignKeyConstraint))
    assert fk.column_keys == ["org_id", "parent_id"]
    assert [e.target_fullname for e in fk.elements] == ["parent.org_id", "parent.id"]


@pytest.mark.parametrize("action", ["SET NULL", "SET DEFAULT"])
def test_foreign_key_actions_that_change_the_tenant_column_are_refused(action: str) -> None:
    with pytest.raises(ValueError, match="tenant column"):
        tenant_foreign_key(["p"], "parent", ["id"], ondelete=action)  # type: ignore[arg-type]


def test_shared_table_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        shared_table(table(MetaData()), reason=" ")
    t = shared_table(table(MetaData()), reason="org directory, readable by all")
    assert declaration_of(t) == SharedTable("org directory, readable by all")


def test_a_table_cannot_be_declared_twice_differently() -> None:
    t = tenant_table(table(MetaData()))
    assert tenant_table(t) is t  # the same declaration again is fine
    with pytest.raises(ValueError, match="already declared"):
        shared_table(t, reason="changed my mind")


def test_orm_model_gets_the_org_back_from_the_database() -> None:
    class LocalBase(DeclarativeBase):
        pass

    @tenant_table
    class Note(LocalBase):
        __tablename__ = "notes"
        org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    assert isinstance(Note.__table__.c.org_id.server_default, FetchedValue)
