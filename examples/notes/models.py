"""The example's one tenant table: notes, per org.

Members read and write; deleting takes at least Admin. PostgreSQL enforces this
(the policies below are generated from the declaration); the API checks the
token's role too, to answer 403 instead of "nothing deleted".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Text, Uuid, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantkit import any_member, minimum_role, tenant_table
from tenantkit.schema import orgs


class Base(DeclarativeBase):
    pass


@tenant_table(
    read=any_member(),
    insert=minimum_role("Member"),
    update=minimum_role("Member"),
    delete=minimum_role("Admin"),
)
class Note(Base):
    __tablename__ = "notes"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey(orgs.c.org_id, ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, server_default=text("tenantkit.current_user_id()")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index(None, "org_id", "created_at"),)  # the tenant column leads
