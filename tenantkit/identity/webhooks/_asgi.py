"""`webhook_app`: the receiver as a plain ASGI app (mount it anywhere; no framework needed).

POST only (405 otherwise); a repeated header is 400; the body is read only up
to the receiver's limit (413 past it, without reading the rest).
"""

from __future__ import annotations

import json
from typing import Any

from tenantkit.identity.webhooks._receiver import WebhookReceiver

__all__ = ["webhook_app"]

Scope = dict[str, Any]


def webhook_app(receiver: WebhookReceiver) -> Any:
    """An ASGI 3 callable answering the provider's deliveries."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "method_not_allowed", "message": "POST only"})
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name in headers:
                await _answer(send, 400, {"error": "invalid_webhook",
                                          "message": f"header {name!r} is repeated"})
                return
            headers[name] = raw_value.decode("latin-1")
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > receiver.max_bytes:
                break  # handle() answers 413; the rest is never read
        status, answer = await receiver.handle_async(bytes(body), headers)
        await _answer(send, status, answer)

    return app


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
