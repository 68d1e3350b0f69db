"""The end-user API's wire shapes: requests (unknown keys refused) and responses.

Datetimes go out as Unix seconds, as in the backend API. Each response is built
from a `tenantkit.orgs` record, field by field, so nothing but the record's
public fields reaches the wire (no token hashes exist on records at all).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tenantkit.orgs import (
    ApiKey,
    DomainVerification,
    Invite,
    Member,
    Org,
    UserOrg,
)
from tenantkit.orgs.dns import txt_name

__all__ = [
    "Accepted",
    "ApiKeyOut",
    "ApiKeysPage",
    "ChangeRole",
    "CreateApiKey",
    "CreateInvite",
    "CreateOrg",
    "CreatedApiKeyOut",
    "CreatedInviteOut",
    "Declined",
    "DomainIn",
    "DomainOut",
    "DomainsOut",
    "ErrorBody",
    "InviteOut",
    "InvitesPage",
    "ListMetadata",
    "MemberOut",
    "MembersPage",
    "MyOrg",
    "MyOrgs",
    "OrgOut",
    "TokenIn",
    "TransferOwnership",
    "UpdateOrg",
]


def _seconds(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


class _Request(BaseModel):
    # Strict: "yes" is not true and "5" is not 5; a typo'd key is refused, not ignored.
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Response):
    error: str
    message: str
    fields: dict[str, str] | None = None


# --- requests -------------------------------------------------------------------

_Name = Field(min_length=1, max_length=200)
_Email = Field(min_length=3, max_length=320)
_Role = Field(min_length=1, max_length=200)
_Token = Field(min_length=1, max_length=200)


class CreateOrg(_Request):
    name: str = _Name
    metadata: dict[str, Any] | None = None


class UpdateOrg(_Request):
    """Settings to change; what a role may change is the database's decision:
    name, metadata, domain_autojoin and domain_restrict with
    `tenantkit::can_update_org`, require_2fa_by (Unix seconds; null clears it)
    with the org's top role only. Anything else is not an end user's to change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None
    domain_autojoin: bool | None = None
    domain_restrict: bool | None = None
    require_2fa_by: int | None = Field(default=None, ge=0, le=253402300799)


class ChangeRole(_Request):
    role: str = _Role
    additional_roles: list[str] = Field(default_factory=list, max_length=50)


class TransferOwnership(_Request):
    user_id: str = Field(min_length=36, max_length=36)
    #: The role the current owner keeps once the other member holds theirs.
    keep_role: str = Field(default="Admin", min_length=1, max_length=200)


class CreateInvite(_Request):
    email: str = _Email
    role: str = _Role
    additional_roles: list[str] = Field(default_factory=list, max_length=50)
    expires_in_seconds: int = Field(default=7 * 86400, ge=60, le=10 * 365 * 86400)


class TokenIn(_Request):
    token: str = _Token


class CreateApiKey(_Request):
    name: str = Field(default="", max_length=200)
    permissions: list[str] = Field(default_factory=list, max_length=100)
    expires_at: int | None = Field(default=None, ge=0, le=253402300799)


class DomainIn(_Request):
    domain: str = Field(min_length=1, max_length=253)


# --- responses ------------------------------------------------------------------


class MyOrg(_Response):
    org_id: str
    org_name: str
    url_safe_org_name: str
    role: str
    additional_roles: list[str]
    status: str
    joined_at: int

    @classmethod
    def of(cls, org: UserOrg) -> MyOrg:
        return cls(org_id=org.org_id, org_name=org.org_name,
                   url_safe_org_name=org.url_safe_org_name, role=org.role,
                   additional_roles=list(org.additional_roles), status=org.status,
                   joined_at=int(org.joined_at.timestamp()))


class MyOrgs(_Response):
    orgs: list[MyOrg]


class OrgOut(_Response):
    org_id: str
    name: str
    url_safe_org_name: str
    metadata: dict[str, Any]
    domain: str | None
    extra_domains: list[str]
    domain_autojoin: bool
    domain_restrict: bool
    max_users: int | None
    require_2fa_by: int | None
    isolated: bool
    created_at: int

    @classmethod
    def of(cls, org: Org) -> OrgOut:
        return cls(org_id=org.org_id, name=org.name, url_safe_org_name=org.url_safe_org_name,
                   metadata=dict(org.metadata), domain=org.domain,
                   extra_domains=list(org.extra_domains), domain_autojoin=org.domain_autojoin,
                   domain_restrict=org.domain_restrict, max_users=org.max_users,
                   require_2fa_by=_seconds(org.require_2fa_by), isolated=org.isolated,
                   created_at=int(org.created_at.timestamp()))


class MemberOut(_Response):
    user_id: str
    email: str
    first_name: str | None
    last_name: str | None
    username: str | None
    picture_url: str | None
    role: str
    additional_roles: list[str]
    status: str
    joined_at: int

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        user, membership = member.user, member.membership
        return cls(user_id=user.user_id, email=user.email, first_name=user.first_name,
                   last_name=user.last_name, username=user.username,
                   picture_url=user.picture_url, role=membership.role,
                   additional_roles=list(membership.additional_roles),
                   status=membership.status, joined_at=int(membership.created_at.timestamp()))


class ListMetadata(_Response):
    """The cursors of the pages before and after this one (null: nothing there)."""

    before: str | None
    after: str | None


class MembersPage(_Response):
    members: list[MemberOut]
    total_members: int
    current_page: int
    page_size: int
    has_more_results: bool
    list_metadata: ListMetadata


class InviteOut(_Response):
    invite_id: str
    org_id: str
    email: str
    role: str
    additional_roles: list[str]
    state: str
    inviter_email: str | None
    created_at: int
    expires_at: int
    #: How sending it went: pending (not tried yet), sent or failed.
    delivery_state: str
    delivery_attempts: int
    delivery_error: str | None

    @classmethod
    def of(cls, invite: Invite) -> InviteOut:
        delivery = invite.delivery
        return cls(invite_id=invite.invite_id, org_id=invite.org_id, email=invite.email,
                   role=invite.role, additional_roles=list(invite.additional_roles),
                   state=invite.state, inviter_email=invite.inviter_email,
                   created_at=int(invite.created_at.timestamp()),
                   expires_at=int(invite.expires_at.timestamp()),
                   delivery_state=delivery.delivery_state,
                   delivery_attempts=delivery.delivery_attempts,
                   delivery_error=delivery.delivery_error)


class CreatedInviteOut(_Response):
    """The invite; its token goes only to the invitee, by the invite sender."""

    invite: InviteOut


class InvitesPage(_Response):
    invites: list[InviteOut]
    total_invites: int
    current_page: int
    page_size: int
    has_more_results: bool


class Accepted(_Response):
    org_id: str
    user_id: str


class Declined(_Response):
    org_id: str


class ApiKeyOut(_Response):
    api_key_id: str
    name: str
    prefix: str
    permissions: list[str]
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    archived_at: int | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(api_key_id=key.api_key_id, name=key.name, prefix=key.prefix,
                   permissions=list(key.permissions),
                   created_at=int(key.created_at.timestamp()),
                   expires_at=_seconds(key.expires_at), last_used_at=_seconds(key.last_used_at),
                   archived_at=_seconds(key.archived_at))


class CreatedApiKeyOut(_Response):
    api_key: ApiKeyOut
    #: Shown once: only its hash is stored.
    secret: str


class ApiKeysPage(_Response):
    api_keys: list[ApiKeyOut]
    total_api_keys: int
    current_page: int
    page_size: int
    has_more_results: bool


class DomainOut(_Response):
    """A domain asked for, and the TXT record that verifies it."""

    domain: str
    state: str
    txt_record_name: str
    txt_record_value: str
    created_at: int
    verified_at: int | None

    @classmethod
    def of(cls, found: DomainVerification) -> DomainOut:
        return cls(domain=found.domain, state=found.state,
                   txt_record_name=txt_name(found.domain), txt_record_value=found.token,
                   created_at=int(found.created_at.timestamp()),
                   verified_at=_seconds(found.verified_at))


class DomainsOut(_Response):
    domains: list[DomainOut]
