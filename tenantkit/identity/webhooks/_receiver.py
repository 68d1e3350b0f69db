"""`WebhookReceiver`: one delivery in, one answer out (the part both web front ends share).

Order: size (413), signature by the provider's library (401: nothing of the
body is parsed before it passes), strict JSON and the payload's shape (400),
then the sync in one transaction. The answer is 200 with the outcome
(`applied`, `duplicate`, `stale`, `ignored`), or the error's status; 409
asks the provider to retry (the event's org or user is not synced yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from tenantkit import _strict_json
from tenantkit.errors import TenantkitError
from tenantkit.identity.webhooks._errors import InvalidWebhook, WebhookTooLarge
from tenantkit.identity.webhooks._signatures import SignatureCheck
from tenantkit.identity.webhooks.events import IdentityEvent, parse_propelauth, parse_workos
from tenantkit.identity.webhooks.sync import IdentitySync

__all__ = ["DEFAULT_MAX_BYTES", "WebhookReceiver"]

DEFAULT_MAX_BYTES = 256 * 1024


class WebhookReceiver:
    """Checks, parses and applies one provider's webhooks."""

    def __init__(
        self, signature: SignatureCheck, sync: IdentitySync, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if signature.provider != sync.provider:
            raise ValueError("the signature check and the sync are for different providers")
        if signature.provider not in ("propelauth", "workos"):
            raise ValueError(f"no webhook parser for {signature.provider!r}")
        self.signature = signature
        self.sync = sync
        self.max_bytes = max_bytes

    def event(self, body: bytes, headers: Mapping[str, str]) -> IdentityEvent:
        """The verified, parsed event; raises a `TenantkitError` otherwise."""
        if len(body) > self.max_bytes:
            raise WebhookTooLarge(f"webhook body exceeds {self.max_bytes} bytes")
        event_id = self.signature.check(body, headers)
        try:
            payload = _strict_json.loads(body)
        except ValueError:
            raise InvalidWebhook("webhook body is not strict JSON") from None
        if self.signature.provider == "propelauth":
            assert event_id is not None  # the Svix check demands svix-id
            return parse_propelauth(event_id, payload)
        return parse_workos(payload)

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one delivery; headers with lower-case names."""
        try:
            return 200, {"outcome": self.sync.apply(self.event(body, headers))}
        except TenantkitError as error:
            return error.status_code, error.to_dict()

    async def handle_async(
        self, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """`handle` off the event loop (the sync's database work is blocking)."""
        return await asyncio.to_thread(self.handle, body, headers)
