"""`webhook_router`: the receiver as a FastAPI `APIRouter` (needs the `fastapi` extra).

    app.include_router(webhook_router(receiver), prefix="/webhooks/workos")
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tenantkit.identity.webhooks._receiver import WebhookReceiver

__all__ = ["webhook_router"]


def webhook_router(receiver: WebhookReceiver, *, path: str = "") -> APIRouter:
    """A router with one POST route at `path` that answers the provider's deliveries."""
    router = APIRouter()

    async def deliver(request: Request) -> JSONResponse:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > receiver.max_bytes:
                break  # 413 without reading the rest
        headers: dict[str, str] = {}
        for name, value in request.headers.items():  # lower-case names, repeats kept
            if name in headers:
                return JSONResponse(
                    {"error": "invalid_webhook", "message": f"header {name!r} is repeated"}, 400
                )
            headers[name] = value
        status, answer = await receiver.handle_async(bytes(body), headers)
        return JSONResponse(answer, status)

    router.add_api_route(path or "/", deliver, methods=["POST"], include_in_schema=False)
    return router
