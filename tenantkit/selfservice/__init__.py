"""Self-service org management over HTTP: the end-user API, where the database decides.

    router = create_router(verifier, app_engine, sender=SmtpInviteSender(...),
                           accept_url="https://app.example.com/accept?token={token}")
    app.include_router(router, prefix="/api/fe/v1")
    # or a plain ASGI app of its own:
    app.mount("/api/fe/v1", create_app(verifier, app_engine))

Every operation runs as the verified end user on the app role, so the policies
on tenantkit's own tables decide (403 with the database's reason, 404 for what
the user cannot see). Invites are sent after commit by an `InviteSender`.
Needs the `fastapi` extra.
"""

from tenantkit.selfservice._app import create_app
from tenantkit.selfservice._delivery import (
    ConsoleInviteSender,
    InviteMessage,
    InviteSender,
    SmtpInviteSender,
)
from tenantkit.selfservice._router import NO_ORG, create_router

__all__ = [
    "NO_ORG",
    "ConsoleInviteSender",
    "InviteMessage",
    "InviteSender",
    "SmtpInviteSender",
    "create_app",
    "create_router",
]
