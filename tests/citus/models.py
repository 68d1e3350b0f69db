"""A Citus app's models: tenant tables declared flavour="citus", one shared table.

- docs: read by any member, written by Members, deleted by Admins;
- comments: a composite (org_id, doc_id) foreign key to docs (co-location makes it local);
- plans: shared by every org (a reference table), docs point at it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, MetaData, Text, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantkit.tables import (
    any_member,
    minimum_role,
    shared_table,
    tenant_foreign_key,
    tenant_table,
)

NAMING = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


@shared_table(reason="the plan catalogue is the same for every org")
class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    # Carries org_id (the org that proposed it): shared on purpose.
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


@tenant_table(
    flavour="citus",
    read=any_member(),
    insert=minimum_role("Member"),
    update=minimum_role("Member"),
    delete=minimum_role("Admin"),
)
class Doc(Base):
    __tablename__ = "docs"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    title: Mapped[str] = mapped_column(Text)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)


@tenant_table(flavour="citus")
class Comment(Base):
    __tablename__ = "comments"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    doc_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (tenant_foreign_key(["doc_id"], "docs", ["id"], ondelete="CASCADE"),)
