"""Provider webhook payloads → `IdentityEvent`s: one change to one org, user or membership.

PropelAuth (delivered by Svix) names its events `org.created`, `user.added_to_org`,
`user.role_changed_within_org`, ...; WorkOS `organization.created`,
`organization_membership.updated`, ... Both become the same few kinds, so the
sync applies one vocabulary. Each event's time orders it against the others on
the same object: WorkOS's `created_at`; for PropelAuth the time inside the
Svix message id (a KSUID, fixed when the message is created, unlike
`svix-timestamp`, which each retry signs anew).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from tenantkit.identity.webhooks._errors import InvalidWebhook

__all__ = ["IdentityEvent", "Kind", "ksuid_time", "parse_propelauth", "parse_workos"]

Kind = Literal[
    "org.upsert", "org.delete", "user.upsert", "user.delete", "membership.upsert",
    "membership.delete",
]

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH: Final = 1_400_000_000
_SVIX_ID: Final = re.compile(r"msg_([0-9A-Za-z]{27})")


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """One change, in the provider's ids; `occurred_at` orders it per object."""

    provider: str
    event_id: str
    event_type: str  # the provider's own name, kept for the record
    occurred_at: datetime
    kind: Kind | None  # None: an event type the sync does not act on (recorded, ignored)
    org: str | None = None
    user: str | None = None
    name: str | None = None
    email: str | None = None
    email_confirmed: bool = False
    first_name: str | None = None
    last_name: str | None = None
    role: str | None = None
    active: bool = True

    @property
    def object_key(self) -> tuple[str, str]:
        """(kind of object, its key): what `occurred_at` is compared against."""
        assert self.kind is not None
        what = self.kind.split(".")[0]
        if what == "org":
            return what, str(self.org)
        if what == "user":
            return what, str(self.user)
        return what, f"{self.org} {self.user}"

    @property
    def removes(self) -> bool:
        return self.kind is not None and self.kind.endswith(".delete")


def _bad(message: str) -> InvalidWebhook:
    return InvalidWebhook(f"webhook payload: {message}")


def _text(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if type(value) is not str or not value or len(value) > 255:
        raise _bad(f"{name!r} is missing or malformed")
    return value


def ksuid_time(svix_id: str) -> datetime:
    """The creation time inside a Svix message id (`msg_` + a base62 KSUID)."""
    match = _SVIX_ID.fullmatch(svix_id)
    if match is None:
        raise _bad("svix-id is not a Svix message id (msg_ and a KSUID)")
    number = 0
    for char in match.group(1):
        number = number * 62 + _BASE62.index(char)
    if number >> 160:
        raise _bad("svix-id is not a Svix message id (msg_ and a KSUID)")
    return datetime.fromtimestamp((number >> 128) + _KSUID_EPOCH, tz=UTC)


_PROPELAUTH: Final[dict[str, Kind]] = {
    "org.created": "org.upsert",
    "org.updated": "org.upsert",
    "org.deleted": "org.delete",
    "user.created": "user.upsert",
    "user.updated": "user.upsert",
    "user.deleted": "user.delete",
    "user.added_to_org": "membership.upsert",
    "user.role_changed_within_org": "membership.upsert",
    "user.removed_from_org": "membership.delete",
}


def parse_propelauth(svix_id: str, payload: object) -> IdentityEvent:
    """A PropelAuth webhook (already verified) as an `IdentityEvent`."""
    if type(payload) is not dict:
        raise _bad("the body is not a JSON object")
    event_type = _text(payload, "event_type")
    assert event_type is not None
    occurred_at = ksuid_time(svix_id)
    kind = _PROPELAUTH.get(event_type)
    base: dict[str, Any] = {"provider": "propelauth", "event_id": svix_id, "event_type": event_type,
            "occurred_at": occurred_at, "kind": kind}
    if kind is None:
        return IdentityEvent(**base)
    if kind.startswith("org."):
        return IdentityEvent(
            **base, org=_text(payload, "org_id"), name=_text(payload, "name", required=False)
        )
    if kind.startswith("user."):
        confirmed = payload.get("email_confirmed")
        return IdentityEvent(
            **base,
            user=_text(payload, "user_id"),
            email=_text(payload, "email", required=kind == "user.upsert"),
            email_confirmed=confirmed is True,
            first_name=_text(payload, "first_name", required=False),
            last_name=_text(payload, "last_name", required=False),
        )
    role = None
    if kind == "membership.upsert":
        role = _text(payload, "new_role" if "new_role" in payload else "role")
    return IdentityEvent(
        **base, org=_text(payload, "org_id"), user=_text(payload, "user_id"), role=role
    )


_WORKOS: Final[dict[str, Kind]] = {
    "organization.created": "org.upsert",
    "organization.updated": "org.upsert",
    "organization.deleted": "org.delete",
    "user.created": "user.upsert",
    "user.updated": "user.upsert",
    "user.deleted": "user.delete",
    "organization_membership.created": "membership.upsert",
    "organization_membership.updated": "membership.upsert",
    "organization_membership.deleted": "membership.delete",
}


def _timestamp(value: object) -> datetime:
    if type(value) is not str:
        raise _bad("'created_at' is missing or malformed")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad("'created_at' is missing or malformed") from None
    if parsed.tzinfo is None:
        raise _bad("'created_at' has no time zone")
    return parsed


def parse_workos(payload: object) -> IdentityEvent:
    """A WorkOS webhook (already verified) as an `IdentityEvent`."""
    if type(payload) is not dict:
        raise _bad("the body is not a JSON object")
    event_id = _text(payload, "id")
    event_type = _text(payload, "event")
    assert event_id is not None
    assert event_type is not None
    data = payload.get("data")
    if type(data) is not dict:
        raise _bad("'data' is missing or malformed")
    kind = _WORKOS.get(event_type)
    base: dict[str, Any] = {"provider": "workos", "event_id": event_id, "event_type": event_type,
            "occurred_at": _timestamp(payload.get("created_at")), "kind": kind}
    if kind is None:
        return IdentityEvent(**base)
    if kind.startswith("org."):
        return IdentityEvent(
            **base, org=_text(data, "id"), name=_text(data, "name", required=False)
        )
    if kind.startswith("user."):
        return IdentityEvent(
            **base,
            user=_text(data, "id"),
            email=_text(data, "email", required=kind == "user.upsert"),
            email_confirmed=data.get("email_verified") is True,
            first_name=_text(data, "first_name", required=False),
            last_name=_text(data, "last_name", required=False),
        )
    role = None
    if kind == "membership.upsert":
        raw_role = data.get("role")
        if type(raw_role) is not dict:
            raise _bad("'role' is missing or malformed")
        role = _text(raw_role, "slug")
    status = data.get("status", "active")
    return IdentityEvent(
        **base,
        org=_text(data, "organization_id"),
        user=_text(data, "user_id"),
        role=role,
        active=status == "active",  # "inactive" and "pending" bind nothing
    )
