"""What the events API returns: events, endpoints, their delivery status, dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["CreatedEndpoint", "DeadLetter", "DeliveryStatus", "Endpoint", "Event"]

#: ok: nothing failing; retrying: the head event failed and waits for its next
#: attempt; disabled: the endpoint is switched off.
DeliveryState = Literal["ok", "retrying", "disabled"]


@dataclass(frozen=True, slots=True)
class Event:
    """One committed event: `event_id` follows commit order."""

    event_id: int
    event_type: str
    org_id: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    committed_at: datetime | None

    def body(self) -> dict[str, Any]:
        """The webhook body: PropelAuth's flat payload with `event_type`, plus id and time."""
        return {"event_type": self.event_type, **self.payload, "event_id": self.event_id,
                "occurred_at": self.occurred_at.isoformat()}


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """How far delivery to one endpoint got, and what is failing."""

    state: DeliveryState
    last_event_id: int
    pending_events: int
    lag_seconds: float
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_delivered_event_id: int | None
    last_status_code: int | None
    last_error: str | None
    delivered_count: int
    dead_letters: int
    replays_queued: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint (never with its secret)."""

    endpoint_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    org_id: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    #: While a rotated secret still signs too, until when.
    previous_secret_expires_at: datetime | None
    status: DeliveryStatus


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    """An endpoint and its signing secret, which is shown this once."""

    endpoint: Endpoint
    secret: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that failed every attempt to one endpoint."""

    endpoint_id: str
    event_id: int
    event_type: str
    attempts: int
    last_error: str | None
    dead_at: datetime
    replay_requested_at: datetime | None
