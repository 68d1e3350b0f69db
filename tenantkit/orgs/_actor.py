"""Who performs a management change: an end user, the backend, or an API key.

The actor decides two things: what the audit row says, and which door the
change goes through. An end-user actor means the connection is an app-role
session bound to that user (`tenant_context`), so row-level security decides
what they may change; the other actors run on a service-role connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tenantkit.context import current_context

__all__ = ["Actor", "ActorKind", "default_actor"]

ActorKind = Literal["user", "service", "api_key"]


@dataclass(frozen=True, slots=True)
class Actor:
    """The author of a change, as recorded in the audit log."""

    kind: ActorKind
    user_id: str | None = None
    api_key_id: str | None = None

    @classmethod
    def end_user(cls, user_id: str) -> Actor:
        """An end user acting on an app-role session bound to them."""
        return cls("user", user_id=user_id)

    @classmethod
    def service(cls) -> Actor:
        """Backend code on a service-role connection."""
        return cls("service")

    @classmethod
    def api_key(cls, api_key_id: str) -> Actor:
        """A caller authenticated by an integration API key (the REST server)."""
        return cls("api_key", api_key_id=api_key_id)

    @property
    def is_end_user(self) -> bool:
        return self.kind == "user"

    def audit_metadata(self) -> dict[str, Any]:
        """What the audit row's metadata says about the actor beyond its kind."""
        return {"api_key_id": self.api_key_id} if self.api_key_id else {}


def default_actor() -> Actor:
    """The bound end user when a `TenantContext` is set, else the service.

    A key principal's context (an org API key) is the `api_key` actor: on its
    app-role connection tenantkit's own tables give it nothing (README "API keys").
    """
    ctx = current_context()
    if ctx is None:
        return Actor.service()
    if ctx.user_id is None:
        assert ctx.api_key_id is not None
        return Actor.api_key(ctx.api_key_id)
    return Actor.end_user(ctx.user_id)
