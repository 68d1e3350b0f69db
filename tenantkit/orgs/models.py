"""What the management service returns: frozen records of tenantkit's rows.

Field names are the database's (PropelAuth's where PropelAuth has one); the
REST layer maps them to wire shapes. Ids are lowercase UUID strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from tenantkit.tokens import OrgMemberInfo

__all__ = [
    "ApiKey",
    "ApiKeyValidation",
    "AuditEntry",
    "CreatedApiKey",
    "CreatedInvite",
    "FeatureFlag",
    "Invite",
    "Member",
    "Membership",
    "Org",
    "OrgMemberInfo",
    "Page",
    "Role",
    "RoleMapping",
    "Settings",
    "User",
]

T = TypeVar("T")


def _fields(cls: type[Any], row: Any) -> dict[str, Any]:
    mapping: Mapping[str, Any] = row._mapping
    return {name: mapping[name] for name in cls.__dataclass_fields__ if name in mapping}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; `total` counts every match, not just this page."""

    items: list[T]
    total: int
    page_number: int
    page_size: int

    @property
    def has_more(self) -> bool:
        """More matches after this page (unknown without a total: a full page says yes)."""
        if self.total < 0:
            return len(self.items) == self.page_size
        return (self.page_number + 1) * self.page_size < self.total


@dataclass(frozen=True, slots=True)
class Org:
    org_id: str
    name: str
    url_safe_org_name: str
    metadata: dict[str, Any]
    max_users: int | None
    domain: str | None
    extra_domains: list[str]
    domain_autojoin: bool
    domain_restrict: bool
    custom_role_mapping_name: str | None
    legacy_org_id: str | None
    external_id: str | None
    can_setup_saml: bool
    is_saml_configured: bool
    is_saml_in_test_mode: bool
    require_2fa_by: datetime | None
    isolated: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Org:
        return cls(**_fields(cls, row))


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    email_confirmed: bool
    username: str | None
    first_name: str | None
    last_name: str | None
    picture_url: str | None
    properties: dict[str, Any]
    metadata: dict[str, Any]
    locked: bool
    enabled: bool
    mfa_enabled: bool
    can_create_orgs: bool
    legacy_user_id: str | None
    isolated_org_id: str | None
    created_at: datetime
    last_active_at: datetime | None
    #: The user's active memberships with roles and permissions, when asked for
    #: (`include_orgs`); on an end-user session only the bound org is visible.
    orgs: tuple[OrgMemberInfo, ...] | None = None

    @classmethod
    def from_row(cls, row: Any, orgs: tuple[OrgMemberInfo, ...] | None = None) -> User:
        return cls(**_fields(cls, row), orgs=orgs)


@dataclass(frozen=True, slots=True)
class Membership:
    org_id: str
    user_id: str
    role: str
    additional_roles: list[str]
    status: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Membership:
        return cls(**_fields(cls, row))


@dataclass(frozen=True, slots=True)
class Member:
    """A user as a member of one org."""

    user: User
    membership: Membership


@dataclass(frozen=True, slots=True)
class Invite:
    invite_id: str
    org_id: str
    org_name: str
    email: str
    invitee_user_id: str | None
    role: str
    additional_roles: list[str]
    inviter_user_id: str | None
    inviter_email: str | None
    state: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Invite:
        return cls(**_fields(cls, row))


@dataclass(frozen=True, slots=True)
class CreatedInvite:
    """A new invite and its secret token, shown once (only its hash is stored)."""

    invite: Invite
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    rank: int
    permissions: tuple[str, ...] = ()
    is_internal: bool = False
    is_visible_to_end_user: bool = True


@dataclass(frozen=True, slots=True)
class RoleMapping:
    """An ordered list of roles (rank 1 first) that orgs subscribe to by name."""

    name: str
    roles: tuple[Role, ...]
    multi_role: bool = False
    is_default: bool = False
    num_orgs_subscribed: int = 0

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)

    def member_info(self, org: Org | Mapping[Any, Any], role: str,
                    additional_roles: list[str]) -> OrgMemberInfo:
        """PropelAuth's per-org member info for a member with `role` in `org`."""
        def get(key: str) -> Any:
            return getattr(org, key) if isinstance(org, Org) else org[key]

        held = [role, *additional_roles] if self.multi_role else [role]
        current = self.role(role)
        if self.multi_role or current is None:
            inherited: tuple[str, ...] = tuple(dict.fromkeys(held))
        else:
            inherited = tuple(r.name for r in self.roles if r.rank >= current.rank)
        permissions: dict[str, None] = {}
        for name in held:
            found = self.role(name)
            if found is not None:
                permissions.update(dict.fromkeys(found.permissions))
        return OrgMemberInfo(
            org_id=str(get("org_id")),
            user_role=role,
            inherited_user_roles_plus_current_role=inherited,
            user_permissions=tuple(permissions),
            org_name=get("name"),
            url_safe_org_name=get("url_safe_org_name"),
            org_metadata=dict(get("metadata") or {}),
            additional_roles=tuple(additional_roles),
            org_role_structure="multi_role" if self.multi_role else "single_role_in_hierarchy",
            legacy_org_id=get("legacy_org_id"),
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    api_key_id: str
    kind: str
    org_id: str | None
    user_id: str | None
    name: str
    prefix: str
    permissions: list[str]
    metadata: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        return cls(**_fields(cls, row))


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new key and its secret, shown once (only a SHA-256 hash is stored)."""

    api_key: ApiKey
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKeyValidation:
    """A valid key, its org (for org keys) and the permissions it carries."""

    api_key: ApiKey
    org: Org | None


@dataclass(frozen=True, slots=True)
class FeatureFlag:
    org_id: str
    name: str
    enabled: bool
    value: Any
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> FeatureFlag:
        return cls(**_fields(cls, row))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    #: The project-wide sequence number; None on an end user's session, where
    #: it would count other orgs' changes.
    audit_id: int | None
    org_id: str | None
    actor_user_id: str | None
    actor_kind: str
    action: str
    target_type: str | None
    target_id: str | None
    metadata: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        return cls(**{"audit_id": None, **_fields(cls, row)})


@dataclass(frozen=True, slots=True)
class Settings:
    users_can_create_orgs: bool
    all_users_must_be_in_org: bool
    max_orgs_per_user: int | None
    org_word: str
    #: How long an invite may live at most (the database refuses longer ones).
    max_invite_expiry: timedelta

    @classmethod
    def from_row(cls, row: Any) -> Settings:
        return cls(**_fields(cls, row))
