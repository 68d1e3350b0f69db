"""Why an inbound webhook was refused; each maps to the status the provider sees.

Providers retry on any non-2xx answer: a forged or malformed delivery is
refused for good (401/400/413; retrying cannot help), an event that arrives
before what it depends on (a membership before its org) is 409, retried later.
"""

from __future__ import annotations

from tenantkit.errors import Conflict, TenantkitError, Unauthorized

__all__ = ["InvalidWebhook", "SignatureInvalid", "WebhookNotReady", "WebhookTooLarge"]


class InvalidWebhook(TenantkitError, ValueError):
    """The body or a header is not what the provider sends (after the signature passed)."""

    status_code = 400
    code = "invalid_webhook"


class SignatureInvalid(Unauthorized):
    """Missing, forged, or stale signature: nothing of the body was read."""

    code = "invalid_signature"


class WebhookTooLarge(TenantkitError):
    """The body exceeds the configured limit."""

    status_code = 413
    code = "payload_too_large"


class WebhookNotReady(Conflict):
    """The event needs an org or user the sync has not seen yet: retry later."""

    code = "webhook_not_ready"
