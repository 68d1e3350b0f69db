"""Events: a transactional outbox and signed webhook delivery.

Every committed change to orgs, users, memberships, invites and org API keys
has exactly one event in `tenantkit.events`, written by database triggers in
the same transaction; ids follow commit order. `Endpoints` manages webhook
endpoints (service role), `read_events` polls the outbox, and `Worker` (the
`events` extra: httpx) delivers with Standard Webhooks signatures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenantkit.events._endpoints import Endpoints
from tenantkit.events._models import CreatedEndpoint, DeadLetter, DeliveryStatus, Endpoint, Event
from tenantkit.events._outbox import read_events
from tenantkit.events._retry import RetryPolicy
from tenantkit.events._secretbox import SecretBox
from tenantkit.events._types import EVENT_TYPES, EventType

if TYPE_CHECKING:
    from tenantkit.events._worker import Worker, WorkerConfig

__all__ = [
    "EVENT_TYPES",
    "CreatedEndpoint",
    "DeadLetter",
    "DeliveryStatus",
    "Endpoint",
    "Endpoints",
    "Event",
    "EventType",
    "RetryPolicy",
    "SecretBox",
    "Worker",
    "WorkerConfig",
    "read_events",
]


def __getattr__(name: str) -> Any:
    # The worker needs httpx (the `events` extra); importing it is deferred to first use.
    if name in ("Worker", "WorkerConfig"):
        from tenantkit.events import _worker as worker

        return getattr(worker, name)
    raise AttributeError(f"module 'tenantkit.events' has no attribute {name!r}")
