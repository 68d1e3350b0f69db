"""Models with a tenant table and an undeclared one carrying org_id (for `tenantkit policies`)."""

from __future__ import annotations

import uuid

from sqlalchemy import Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantkit.tables import tenant_table


class Base(DeclarativeBase):
    pass


@tenant_table()
class Document(Base):
    __tablename__ = "documents"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class Invoice(Base):
    __tablename__ = "invoices"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
