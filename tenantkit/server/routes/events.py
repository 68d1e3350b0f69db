"""Webhook endpoints (a tenantkit extension): `/api/backend/v1/webhook_endpoints...`.

Integration-key auth like every other route. The signing secret appears only in
the answers to create and rotate_secret. Each endpoint carries its delivery
status (state, pending events, lag, attempts, last error, dead letters).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import Field

from tenantkit.events import DeadLetter, Endpoint, Endpoints
from tenantkit.server import shapes
from tenantkit.server.deps import Api, ApiDep
from tenantkit.server.errors import ERROR_RESPONSES
from tenantkit.server.schemas import UUID_PATTERN, Id, Request, Response

router = APIRouter(prefix="/api/backend/v1", tags=["webhooks"], responses=ERROR_RESPONSES)

EndpointId = Annotated[str, Path(pattern=UUID_PATTERN, description="The endpoint's id (a UUID)")]
_MAX_OVERLAP = int(timedelta(days=30).total_seconds())
_EVENT_ID = Field(ge=1, le=2**63 - 1)
T = TypeVar("T")


# --- wire shapes ----------------------------------------------------------------------


class CreateWebhookEndpoint(Request):
    url: str
    event_types: list[str] = []
    org_id: Id | None = None
    description: str = ""
    enabled: bool = True
    secret: str | None = Field(None, description="Bring a whsec_ secret (default: a new one)")


class UpdateWebhookEndpoint(Request):
    url: str | None = None
    event_types: list[str] | None = None
    org_id: Id | None = Field(None, description="null clears the org filter")
    description: str | None = None
    enabled: bool | None = None


class DeliveryStatus(Response):
    state: str
    last_event_id: int
    pending_events: int
    lag_seconds: float
    attempts: int
    next_attempt_at: int | None
    last_attempt_at: int | None
    last_success_at: int | None
    last_delivered_event_id: int | None
    last_status_code: int | None
    last_error: str | None
    delivered_count: int
    dead_letters: int
    replays_queued: int


class WebhookEndpoint(Response):
    endpoint_id: str
    url: str
    description: str
    event_types: list[str]
    org_id: str | None
    enabled: bool
    created_at: int
    updated_at: int
    previous_secret_expires_at: int | None
    status: DeliveryStatus


class CreatedWebhookEndpoint(WebhookEndpoint):
    secret: str


class WebhookEndpoints(Response):
    webhook_endpoints: list[WebhookEndpoint]


class RotateSecret(Request):
    overlap_seconds: int = Field(86_400, ge=0, le=_MAX_OVERLAP)
    secret: str | None = None


class Replay(Request):
    event_ids: list[Annotated[int, _EVENT_ID]] | None = None
    from_event_id: Annotated[int, _EVENT_ID] | None = None


class Replayed(Response):
    queued: int


class WebhookDeadLetter(Response):
    event_id: int
    event_type: str
    attempts: int
    last_error: str | None
    dead_at: int
    replay_requested_at: int | None


class WebhookDeadLetters(Response):
    dead_letters: list[WebhookDeadLetter]


class WebhookOk(Response):
    """An empty JSON object."""


# --- shapes ----------------------------------------------------------------------------


def _endpoint(x: Endpoint) -> dict[str, Any]:
    s = x.status
    return {
        "endpoint_id": x.endpoint_id, "url": x.url, "description": x.description,
        "event_types": list(x.event_types), "org_id": x.org_id, "enabled": x.enabled,
        "created_at": shapes.seconds(x.created_at), "updated_at": shapes.seconds(x.updated_at),
        "previous_secret_expires_at": shapes.seconds(x.previous_secret_expires_at),
        "status": {
            "state": s.state, "last_event_id": s.last_event_id,
            "pending_events": s.pending_events, "lag_seconds": s.lag_seconds,
            "attempts": s.attempts, "next_attempt_at": shapes.seconds(s.next_attempt_at),
            "last_attempt_at": shapes.seconds(s.last_attempt_at),
            "last_success_at": shapes.seconds(s.last_success_at),
            "last_delivered_event_id": s.last_delivered_event_id,
            "last_status_code": s.last_status_code, "last_error": s.last_error,
            "delivered_count": s.delivered_count, "dead_letters": s.dead_letters,
            "replays_queued": s.replays_queued,
        },
    }


def _dead_letter(d: DeadLetter) -> dict[str, Any]:
    return {"event_id": d.event_id, "event_type": d.event_type, "attempts": d.attempts,
            "last_error": d.last_error, "dead_at": shapes.seconds(d.dead_at),
            "replay_requested_at": shapes.seconds(d.replay_requested_at)}


def _run(api: Api, work: Callable[[Endpoints], T]) -> T:
    with api.management() as m:
        return work(Endpoints(m.conn))


# --- routes ------------------------------------------------------------------------------


@router.post("/webhook_endpoints", response_model=CreatedWebhookEndpoint,
             summary="Create a webhook endpoint (the signing secret is shown once)")
def create_endpoint(body: CreateWebhookEndpoint, api: ApiDep) -> dict[str, Any]:
    created = _run(api, lambda e: e.create(
        body.url, event_types=body.event_types, org_id=body.org_id,
        description=body.description, enabled=body.enabled, secret=body.secret))
    return {**_endpoint(created.endpoint), "secret": created.secret}


@router.get("/webhook_endpoints", response_model=WebhookEndpoints,
            summary="Webhook endpoints with their delivery status")
def list_endpoints(api: ApiDep) -> dict[str, Any]:
    found = _run(api, lambda e: e.list())
    return {"webhook_endpoints": [_endpoint(x) for x in found]}


@router.get("/webhook_endpoints/{endpoint_id}", response_model=WebhookEndpoint,
            summary="One webhook endpoint with its delivery status")
def fetch_endpoint(endpoint_id: EndpointId, api: ApiDep) -> dict[str, Any]:
    return _endpoint(_run(api, lambda e: e.fetch(endpoint_id)))


@router.put("/webhook_endpoints/{endpoint_id}", response_model=WebhookEndpoint,
            summary="Change a webhook endpoint's URL, filters, description or state")
def update_endpoint(endpoint_id: EndpointId, body: UpdateWebhookEndpoint,
                    api: ApiDep) -> dict[str, Any]:
    # Only the fields sent change; an explicit "org_id": null clears the org filter.
    changes = {k: getattr(body, k) for k in body.model_fields_set
               if getattr(body, k) is not None or k == "org_id"}
    return _endpoint(_run(api, lambda e: e.update(endpoint_id, **changes)))


@router.delete("/webhook_endpoints/{endpoint_id}", response_model=WebhookOk,
               summary="Delete a webhook endpoint, its delivery state and dead letters")
def delete_endpoint(endpoint_id: EndpointId, api: ApiDep) -> dict[str, Any]:
    _run(api, lambda e: e.delete(endpoint_id))
    return {}


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret",
             response_model=CreatedWebhookEndpoint,
             summary="A new signing secret (shown once); the old one signs too for the overlap")
def rotate_secret(endpoint_id: EndpointId, body: RotateSecret, api: ApiDep) -> dict[str, Any]:
    created = _run(api, lambda e: e.rotate_secret(
        endpoint_id, overlap=timedelta(seconds=body.overlap_seconds), secret=body.secret))
    return {**_endpoint(created.endpoint), "secret": created.secret}


@router.post("/webhook_endpoints/{endpoint_id}/replay", response_model=Replayed,
             summary="Send dead-lettered events again, or rewind to from_event_id")
def replay(endpoint_id: EndpointId, body: Replay, api: ApiDep) -> dict[str, Any]:
    queued = _run(api, lambda e: e.replay(endpoint_id, event_ids=body.event_ids,
                                          from_event_id=body.from_event_id))
    return {"queued": queued}


@router.get("/webhook_endpoints/{endpoint_id}/dead_letters", response_model=WebhookDeadLetters,
            summary="Events that failed every attempt to this endpoint")
def dead_letters(
    endpoint_id: EndpointId, api: ApiDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = _run(api, lambda e: e.dead_letters(endpoint_id, limit=limit))
    return {"dead_letters": [_dead_letter(d) for d in found]}
