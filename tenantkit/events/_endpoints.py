"""Webhook endpoints: create, list, update, delete, rotate secrets, replay, dead letters.

Runs on a service-role connection, inside the caller's transaction (nothing
commits here). The signing secret is returned by `create` and `rotate_secret`
only; it is stored for the worker (see `secretbox`) and never read back out
through this API. A new endpoint receives the events committed after it.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Row

from tenantkit.errors import InvalidField, NotFound
from tenantkit.events._models import (
    CreatedEndpoint,
    DeadLetter,
    DeliveryState,
    DeliveryStatus,
    Endpoint,
)
from tenantkit.events._secretbox import SecretBox
from tenantkit.events._signing import check_secret, new_secret
from tenantkit.events._tables import dead_letters, events, webhook_cursors, webhook_endpoints
from tenantkit.events._types import check_event_types
from tenantkit.events._urls import check_url
from tenantkit.orgs._db import Conn, run
from tenantkit.orgs._validate import check_id
from tenantkit.sqlfiles import load_sql

__all__ = ["DEFAULT_OVERLAP", "Endpoints"]

DEFAULT_OVERLAP: Final = timedelta(hours=24)
MAX_OVERLAP: Final = timedelta(days=30)
MAX_DESCRIPTION: Final = 500
UPDATABLE: Final = frozenset({"url", "description", "event_types", "org_id", "enabled"})
MAX_DEAD_LETTERS: Final = 1000


def _clean(field: str, value: Any) -> Any:
    if field == "url":
        return check_url(field, value)
    if field == "description":
        if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
            raise InvalidField(field, f"must be text of at most {MAX_DESCRIPTION} characters")
        if "\x00" in value:
            raise InvalidField(field, "must not contain NUL")
        return value
    if field == "event_types":
        return check_event_types(field, value)
    if field == "org_id":
        return None if value is None else check_id(field, value)
    if field == "enabled":
        if not isinstance(value, bool):
            raise InvalidField(field, "must be true or false")
        return value
    raise InvalidField(field, "is not an endpoint field")


def _status(m: Any) -> DeliveryStatus:
    state: DeliveryState
    if not m["enabled"]:
        state = "disabled"
    elif m["attempts"] > 0:
        state = "retrying"
    else:
        state = "ok"
    return DeliveryStatus(
        state=state, last_event_id=m["last_event_id"], pending_events=m["pending_events"],
        lag_seconds=round(float(m["lag_seconds"]), 3), attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"], last_attempt_at=m["last_attempt_at"],
        last_success_at=m["last_success_at"],
        last_delivered_event_id=m["last_delivered_event_id"],
        last_status_code=m["last_status_code"], last_error=m["last_error"],
        delivered_count=m["delivered_count"], dead_letters=m["dead_letters"],
        replays_queued=m["replays_queued"],
    )


def _endpoint(row: Row[Any]) -> Endpoint:
    m = row._mapping
    return Endpoint(
        endpoint_id=m["endpoint_id"], url=m["url"], description=m["description"],
        event_types=tuple(m["event_types"]), org_id=m["org_id"], enabled=m["enabled"],
        created_at=m["created_at"], updated_at=m["updated_at"],
        previous_secret_expires_at=m["previous_secret_expires_at"], status=_status(m),
    )


class Endpoints:
    """Webhook endpoints on a service-role connection."""

    def __init__(self, conn: Conn, *, box: SecretBox | None = None) -> None:
        self._conn = conn
        self._box = box if box is not None else SecretBox.from_env()

    # --- create and read ----------------------------------------------------------

    def create(
        self,
        url: str,
        *,
        event_types: Sequence[str] = (),
        org_id: str | None = None,
        description: str = "",
        enabled: bool = True,
        secret: str | None = None,
    ) -> CreatedEndpoint:
        """A new endpoint for `event_types` (empty: all) of `org_id` (None: all orgs).

        `secret` brings an existing `whsec_` secret (e.g. from Svix); by default a
        new one is made. Either way it is in the result, and never shown again.
        """
        values = {
            "url": _clean("url", url), "event_types": _clean("event_types", event_types),
            "org_id": _clean("org_id", org_id), "description": _clean("description", description),
            "enabled": _clean("enabled", enabled),
        }
        raw = new_secret() if secret is None else check_secret("secret", secret)
        endpoint_id = str(uuid.uuid4())
        run(self._conn, insert(webhook_endpoints).values(
            endpoint_id=endpoint_id, secret=self._box.seal(raw, endpoint_id), **values))
        return CreatedEndpoint(self.fetch(endpoint_id), raw)

    def list(self) -> list[Endpoint]:
        """Every endpoint with its delivery status, oldest first."""
        return [_endpoint(r) for r in self._rows(None)]

    def fetch(self, endpoint_id: str) -> Endpoint:
        rows = self._rows(check_id("endpoint_id", endpoint_id))
        if not rows:
            raise NotFound("webhook endpoint not found")
        return _endpoint(rows[0])

    def _rows(self, endpoint_id: str | None) -> builtins.list[Row[Any]]:
        statement = text(load_sql("events/endpoints.sql"))
        return list(run(self._conn, statement, {"endpoint_id": endpoint_id}))

    # --- change -------------------------------------------------------------------

    def update(self, endpoint_id: str, **changes: Any) -> Endpoint:
        """Change the given fields (url, description, event_types, org_id, enabled)."""
        endpoint_id = check_id("endpoint_id", endpoint_id)
        unknown = sorted(set(changes) - UPDATABLE)
        if unknown:
            raise InvalidField({f: "is not an updatable endpoint field" for f in unknown})
        clean = {k: _clean(k, v) for k, v in changes.items()}
        if clean:
            self._update(endpoint_id, **clean)
        return self.fetch(endpoint_id)

    def _update(self, endpoint_id: str, **values: Any) -> None:
        changed = run(self._conn, update(webhook_endpoints)
                      .where(webhook_endpoints.c.endpoint_id == endpoint_id)
                      .values(updated_at=func.now(), **values)
                      .returning(webhook_endpoints.c.endpoint_id)).first()
        if changed is None:
            raise NotFound("webhook endpoint not found")

    def delete(self, endpoint_id: str) -> None:
        """Delete the endpoint with its delivery state and dead letters."""
        endpoint_id = check_id("endpoint_id", endpoint_id)
        gone = run(self._conn, delete(webhook_endpoints)
                   .where(webhook_endpoints.c.endpoint_id == endpoint_id)
                   .returning(webhook_endpoints.c.endpoint_id)).first()
        if gone is None:
            raise NotFound("webhook endpoint not found")

    def rotate_secret(
        self, endpoint_id: str, *, overlap: timedelta = DEFAULT_OVERLAP, secret: str | None = None
    ) -> CreatedEndpoint:
        """A new secret; the current one keeps signing too for `overlap` (0: stops now)."""
        endpoint_id = check_id("endpoint_id", endpoint_id)
        if not isinstance(overlap, timedelta) or not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise InvalidField("overlap", "must be between 0 and 30 days")
        raw = new_secret() if secret is None else check_secret("secret", secret)
        current = run(self._conn, select(webhook_endpoints.c.secret)
                      .where(webhook_endpoints.c.endpoint_id == endpoint_id)
                      .with_for_update()).scalar_one_or_none()
        if current is None:
            raise NotFound("webhook endpoint not found")
        keep = overlap > timedelta(0)
        self._update(
            endpoint_id, secret=self._box.seal(raw, endpoint_id),
            # Already sealed for this endpoint: it moves over as it is.
            previous_secret=current if keep else None,
            previous_secret_expires_at=func.now() + overlap if keep else None,
        )
        return CreatedEndpoint(self.fetch(endpoint_id), raw)

    # --- replay and dead letters ----------------------------------------------------

    def replay(
        self,
        endpoint_id: str,
        *,
        event_ids: Sequence[int] | None = None,
        from_event_id: int | None = None,
    ) -> int:
        """Send again; the number of events queued.

        By default every dead-lettered event of the endpoint is queued (or those in
        `event_ids`); replays go out before the endpoint's next new event.
        `from_event_id` instead rewinds the endpoint to that event: everything from
        it on is sent again in order (receivers dedupe by `webhook-id`).
        """
        endpoint = self.fetch(check_id("endpoint_id", endpoint_id))  # 404 when unknown
        endpoint_id = endpoint.endpoint_id
        if from_event_id is not None:
            if event_ids is not None:
                raise InvalidField("event_ids", "give event_ids or from_event_id, not both")
            count = self._rewind(endpoint, _check_event_id("from_event_id", from_event_id))
        else:
            count = self._requeue(endpoint_id, event_ids)
        # Due now, whatever backoff the endpoint was in; and wake the workers.
        run(self._conn, update(webhook_cursors)
            .where(webhook_cursors.c.endpoint_id == endpoint_id)
            .values(next_attempt_at=func.now()))
        run(self._conn, select(func.pg_notify("tenantkit_events", "")))
        return count

    def _rewind(self, endpoint: Endpoint, first: int) -> int:
        key = webhook_cursors.c.endpoint_id == endpoint.endpoint_id
        cursor = run(self._conn, select(webhook_cursors.c.last_event_id).where(key)
                     .with_for_update()).scalar_one()
        if first - 1 > cursor:
            raise InvalidField("from_event_id", "is past what the endpoint has received; "
                                                "replay only goes back")
        run(self._conn, update(webhook_cursors).where(key)
            .values(last_event_id=first - 1, head_event_id=None, attempts=0))
        where = [events.c.event_id >= first, events.c.event_id <= cursor]
        if endpoint.event_types:
            where.append(events.c.event_type.in_(endpoint.event_types))
        if endpoint.org_id is not None:
            where.append(events.c.org_id == endpoint.org_id)
        count = run(self._conn, select(func.count()).select_from(events).where(*where))
        return int(count.scalar_one())

    def _requeue(self, endpoint_id: str, event_ids: Sequence[int] | None) -> int:
        where = [dead_letters.c.endpoint_id == endpoint_id]
        wanted: builtins.list[int] = []
        if event_ids is not None:
            if isinstance(event_ids, str | bytes) or len(event_ids) > MAX_DEAD_LETTERS:
                raise InvalidField("event_ids", f"must be a list of at most {MAX_DEAD_LETTERS} ids")
            wanted = sorted({_check_event_id("event_ids", e) for e in event_ids})
            where.append(dead_letters.c.event_id.in_(wanted))
        queued = run(self._conn, update(dead_letters).where(*where)
                     .values(replay_requested_at=func.now())
                     .returning(dead_letters.c.event_id)).scalars().all()
        missing = sorted(set(wanted) - set(queued))
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise InvalidField("event_ids", f"not dead-lettered for this endpoint: {shown}")
        return len(queued)

    def dead_letters(self, endpoint_id: str, *, limit: int = 100) -> builtins.list[DeadLetter]:
        """The endpoint's dead letters (queued replays included), oldest event first."""
        endpoint_id = check_id("endpoint_id", endpoint_id)
        if isinstance(limit, bool) or not isinstance(limit, int) \
                or not 0 < limit <= MAX_DEAD_LETTERS:
            raise InvalidField("limit", f"must be between 1 and {MAX_DEAD_LETTERS}")
        self.fetch(endpoint_id)
        rows = run(self._conn, select(*dead_letters.c, events.c.event_type)
                   .join_from(dead_letters, events, events.c.event_id == dead_letters.c.event_id)
                   .where(dead_letters.c.endpoint_id == endpoint_id)
                   .order_by(dead_letters.c.event_id).limit(limit))
        return [DeadLetter(**r._mapping) for r in rows]


def _check_event_id(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidField(field, "must be an event id (a positive integer)")
    return value
