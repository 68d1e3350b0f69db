"""Webhook endpoints (a tenantkit extension): `/api/backend/v1/webhook_endpoints...`.

Integration-key auth like every other route. The signing secret appears only in
the answers to create and rotate_secret. Each endpoint carries its delivery
status (state, pending events, lag, attempts, last error, dead letters).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from tenantkit.events import Endpoints
from tenantkit.server import _schemas as s
from tenantkit.server._deps import Api, ApiDep
from tenantkit.server._errors import ERROR_RESPONSES
from tenantkit.server._params import EndpointId

router = APIRouter(prefix="/api/backend/v1", tags=["webhooks"], responses=ERROR_RESPONSES)

T = TypeVar("T")


def _run(api: Api, work: Callable[[Endpoints], T]) -> T:
    with api.management() as m:
        return work(Endpoints(m.conn))


# --- routes ------------------------------------------------------------------------------


@router.post("/webhook_endpoints", response_model=s.CreatedWebhookEndpoint,
             summary="Create a webhook endpoint (the signing secret is shown once)")
def create_endpoint(body: s.CreateWebhookEndpoint, api: ApiDep) -> s.CreatedWebhookEndpoint:
    created = _run(api, lambda e: e.create(
        body.url, event_types=body.event_types, org_id=body.org_id,
        description=body.description, enabled=body.enabled, secret=body.secret))
    return s.CreatedWebhookEndpoint.from_record(created.endpoint, secret=created.secret)


@router.get("/webhook_endpoints", response_model=s.WebhookEndpoints,
            summary="Webhook endpoints with their delivery status")
def list_endpoints(api: ApiDep) -> s.WebhookEndpoints:
    found = _run(api, lambda e: e.list())
    return s.WebhookEndpoints(webhook_endpoints=[s.WebhookEndpoint.from_record(x) for x in found])


@router.get("/webhook_endpoints/{endpoint_id}", response_model=s.WebhookEndpoint,
            summary="One webhook endpoint with its delivery status")
def fetch_endpoint(endpoint_id: EndpointId, api: ApiDep) -> s.WebhookEndpoint:
    return s.WebhookEndpoint.from_record(_run(api, lambda e: e.fetch(endpoint_id)))


@router.put("/webhook_endpoints/{endpoint_id}", response_model=s.WebhookEndpoint,
            summary="Change a webhook endpoint's URL, filters, description or state")
def update_endpoint(endpoint_id: EndpointId, body: s.UpdateWebhookEndpoint,
                    api: ApiDep) -> s.WebhookEndpoint:
    # Only the fields sent change; an explicit "org_id": null clears the org filter.
    changes = {k: getattr(body, k) for k in body.model_fields_set
               if getattr(body, k) is not None or k == "org_id"}
    return s.WebhookEndpoint.from_record(_run(api, lambda e: e.update(endpoint_id, **changes)))


@router.delete("/webhook_endpoints/{endpoint_id}", response_model=s.Ok,
               summary="Delete a webhook endpoint, its delivery state and dead letters")
def delete_endpoint(endpoint_id: EndpointId, api: ApiDep) -> s.Ok:
    _run(api, lambda e: e.delete(endpoint_id))
    return s.Ok()


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret",
             response_model=s.CreatedWebhookEndpoint,
             summary="A new signing secret (shown once); the old one signs too for the overlap")
def rotate_secret(
    endpoint_id: EndpointId, body: s.RotateSecret, api: ApiDep
) -> s.CreatedWebhookEndpoint:
    created = _run(api, lambda e: e.rotate_secret(
        endpoint_id, overlap=timedelta(seconds=body.overlap_seconds), secret=body.secret))
    return s.CreatedWebhookEndpoint.from_record(created.endpoint, secret=created.secret)


@router.post("/webhook_endpoints/{endpoint_id}/replay", response_model=s.Replayed,
             summary="Send dead-lettered events again, or rewind to from_event_id")
def replay(endpoint_id: EndpointId, body: s.Replay, api: ApiDep) -> s.Replayed:
    queued = _run(api, lambda e: e.replay(endpoint_id, event_ids=body.event_ids,
                                          from_event_id=body.from_event_id))
    return s.Replayed(queued=queued)


@router.get("/webhook_endpoints/{endpoint_id}/dead_letters", response_model=s.WebhookDeadLetters,
            summary="Events that failed every attempt to this endpoint")
def dead_letters(
    endpoint_id: EndpointId, api: ApiDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> s.WebhookDeadLetters:
    found = _run(api, lambda e: e.dead_letters(endpoint_id, limit=limit))
    return s.WebhookDeadLetters(dead_letters=[s.WebhookDeadLetter.from_record(d) for d in found])
