"""Reading the outbox: committed events in commit order, for consumers that poll.

Event ids follow commit order (see sql/0004_events.sql), so polling
`read_events(conn, after=last_seen)` never skips an event: once an id is
visible, every smaller committed id is too. Run it as the service role.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select

from tenantkit.errors import InvalidField
from tenantkit.events._models import Event
from tenantkit.events._tables import events
from tenantkit.events._types import check_event_types
from tenantkit.orgs._db import Conn, run
from tenantkit.orgs._validate import check_id

__all__ = ["read_events"]

MAX_LIMIT = 1000


def read_events(
    conn: Conn,
    *,
    after: int = 0,
    limit: int = 100,
    event_types: Sequence[str] = (),
    org_id: str | None = None,
) -> list[Event]:
    """Up to `limit` events with ids above `after`, oldest first, optionally filtered."""
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise InvalidField("after", "must be an event id (0 or more)")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT:
        raise InvalidField("limit", f"must be between 1 and {MAX_LIMIT}")
    where: list[ColumnElement[bool]] = [events.c.event_id > after]
    types = check_event_types("event_types", event_types)
    if types:
        where.append(events.c.event_type.in_(types))
    if org_id is not None:
        where.append(events.c.org_id == check_id("org_id", org_id))
    rows = run(conn, select(events).where(*where).order_by(events.c.event_id).limit(limit))
    return [Event(**row._mapping) for row in rows]
