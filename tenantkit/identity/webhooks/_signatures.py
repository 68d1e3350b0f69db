"""Signature checks, each by the provider's own library.

- PropelAuth delivers through Svix: `svix-id`, `svix-timestamp`, `svix-signature`,
  checked by `svix.webhooks.Webhook` (the timestamp within 5 minutes).
- WorkOS: `WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "<t>.<body>">`,
  checked by the `workos` SDK's `verify_header` (the timestamp within `tolerance`).

Both need the `identity` extra (`pip install tenantkit[identity]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from tenantkit.identity.webhooks._errors import SignatureInvalid

__all__ = ["SignatureCheck", "SvixSignature", "WorkOSSignature"]


class SignatureCheck(Protocol):
    """Raises `SignatureInvalid` unless `body` is signed; returns the event id header, if any."""

    provider: str

    def check(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """Verify, or raise `SignatureInvalid`."""
        ...


class SvixSignature:
    """Svix's scheme (PropelAuth's webhooks); `secret` is the endpoint's `whsec_…`."""

    provider = "propelauth"

    def __init__(self, secret: str) -> None:
        from svix.webhooks import Webhook  # the identity extra

        self._webhook = Webhook(secret)

    def check(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        from svix.webhooks import WebhookVerificationError

        wanted = {k: headers[k] for k in ("svix-id", "svix-timestamp", "svix-signature")
                  if k in headers}
        if len(wanted) != 3:
            raise SignatureInvalid("webhook is not signed (svix-id, -timestamp, -signature)")
        try:
            self._webhook.verify(body, wanted)
        except WebhookVerificationError:
            raise SignatureInvalid("webhook signature is invalid or stale") from None
        return wanted["svix-id"]


class WorkOSSignature:
    """WorkOS's scheme; `secret` is the endpoint's signing secret from the dashboard."""

    provider = "workos"

    def __init__(self, secret: str, *, tolerance: int = 180) -> None:
        from workos.webhooks import Webhooks  # the identity extra

        if not secret:
            raise ValueError("the WorkOS webhook secret is empty")
        self._secret = secret
        self._tolerance = tolerance
        # verify_header is pure (no API call): the resource needs no configured client.
        self._verify = Webhooks(cast(Any, None)).verify_header

    def check(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        signature = headers.get("workos-signature")
        if not signature:
            raise SignatureInvalid("webhook is not signed (WorkOS-Signature)")
        try:
            self._verify(
                event_body=body, event_signature=signature, secret=self._secret,
                tolerance=self._tolerance,
            )
        except (ValueError, UnicodeDecodeError):
            raise SignatureInvalid("webhook signature is invalid or stale") from None
        return None
