"""SQLAlchemy `Table`s of the events schema (created by migration 0004, never by this)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

__all__ = ["dead_letters", "events", "metadata", "webhook_cursors", "webhook_endpoints"]

# Its own MetaData: tenantkit.schema's stays the core schema's mirror.
metadata = MetaData(schema="tenantkit")

_uuid = UUID(as_uuid=False)
_ts = DateTime(timezone=True)

events = Table(
    "events", metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("org_id", _uuid),
    Column("payload", JSONB, nullable=False),
    Column("occurred_at", _ts, nullable=False),
    Column("committed_at", _ts),
)

webhook_endpoints = Table(
    "webhook_endpoints", metadata,
    Column("endpoint_id", _uuid, primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("org_id", _uuid),
    Column("enabled", Boolean, nullable=False),
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", _ts),
    Column("created_at", _ts, nullable=False),
    Column("updated_at", _ts, nullable=False),
)

webhook_cursors = Table(
    "webhook_cursors", metadata,
    Column("endpoint_id", _uuid, primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("head_event_id", BigInteger),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", _ts, nullable=False),
    Column("last_attempt_at", _ts),
    Column("last_success_at", _ts),
    Column("last_delivered_event_id", BigInteger),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_count", BigInteger, nullable=False),
)

dead_letters = Table(
    "webhook_dead_letters", metadata,
    Column("endpoint_id", _uuid, primary_key=True),
    Column("event_id", BigInteger, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("dead_at", _ts, nullable=False),
    Column("replay_requested_at", _ts),
)
