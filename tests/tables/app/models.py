"""The fixture app: what a tenantkit user writes.

- documents: read by any member, written by Members, deleted by Admins;
- comments: a composite (org_id, document_id) foreign key to documents;
  authors edit their own, deletes need a permission;
- projects: a tenant-unique slug; the tenant column has no default and no
  trigger (so the policies alone are tested), deletes are Owner-only;
- plans: shared by all orgs (no tenant column).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, MetaData, Text, Uuid, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantkit.schema import orgs
from tenantkit.tables import (
    all_permissions,
    any_member,
    exact_role,
    minimum_role,
    permission,
    sql,
    tenant_foreign_key,
    tenant_table,
    tenant_unique,
)

# PostgreSQL's own default names, so the database and the models agree.
NAMING = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
}

IS_AUTHOR = "author_id = (SELECT tenantkit.current_user_id())"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def org_fk() -> ForeignKey:
    return ForeignKey(orgs.c.org_id, ondelete="CASCADE")


@tenant_table(
    read=any_member(),
    insert=minimum_role("Member"),
    update=minimum_role("Member"),
    delete=minimum_role("Admin"),
)
class Document(Base):
    __tablename__ = "documents"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, org_fk(), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index(None, "org_id", "created_at"),)


@tenant_table(
    update=sql(IS_AUTHOR),
    delete=sql(IS_AUTHOR) | permission("tenantkit::can_update_org"),
)
class Comment(Base):
    __tablename__ = "comments"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, org_fk(), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    document_id: Mapped[uuid.UUID]
    author_id: Mapped[uuid.UUID] = mapped_column(server_default=text("tenantkit.current_user_id()"))
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        tenant_foreign_key(["document_id"], "documents", ["id"], ondelete="CASCADE"),
        Index(None, "org_id", "document_id"),
    )


@tenant_table(
    insert=minimum_role("Admin"),
    update=all_permissions(["tenantkit::can_update_org", "tenantkit::can_invite"]),
    delete=exact_role("Owner"),
    default_to_bound_org=False,
    refuse_tenant_change=False,
)
class Project(Base):
    __tablename__ = "projects"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, org_fk(), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    slug: Mapped[str] = mapped_column(Text)
    plan_code: Mapped[str | None] = mapped_column(ForeignKey("plans.code"))

    __table_args__ = (tenant_unique("slug"),)


class Plan(Base):
    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
