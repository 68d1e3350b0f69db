"""Verified inbound webhooks: keep orgs, users and memberships in step with the provider.

    sync = IdentitySync(service_engine, provider="workos", roles={"admin": "Admin"},
                        resolver=resolver)
    receiver = WebhookReceiver(WorkOSSignature(secret), sync)
    app.mount("/webhooks/workos", webhook_app(receiver))    # any ASGI app
    # or: app.include_router(webhook_router(receiver), prefix="/webhooks/workos")

PropelAuth: `WebhookReceiver(SvixSignature(whsec), IdentitySync(engine,
provider="propelauth", same_ids=True))`. Signatures are checked by `svix` and
the `workos` SDK (the `identity` extra); see `sync` for ordering and replays.
"""

from tenantkit.identity.webhooks._asgi import webhook_app
from tenantkit.identity.webhooks._errors import (
    InvalidWebhook,
    SignatureInvalid,
    WebhookNotReady,
    WebhookTooLarge,
)
from tenantkit.identity.webhooks._receiver import WebhookReceiver
from tenantkit.identity.webhooks._signatures import SvixSignature, WorkOSSignature
from tenantkit.identity.webhooks.events import IdentityEvent, parse_propelauth, parse_workos
from tenantkit.identity.webhooks.sync import IdentitySync, Outcome

__all__ = [
    "IdentityEvent",
    "IdentitySync",
    "InvalidWebhook",
    "Outcome",
    "SignatureInvalid",
    "SvixSignature",
    "WebhookNotReady",
    "WebhookReceiver",
    "WebhookTooLarge",
    "WorkOSSignature",
    "parse_propelauth",
    "parse_workos",
    "webhook_app",
]
