"""What the management service returns: frozen records of tenantkit's rows.

Field names are the database's (PropelAuth's where PropelAuth has one); the
REST layer builds its wire shapes from these records. Ids are lowercase UUID
strings.

`Org` is also the one definition of the org's fields: each field that callers
may set carries its rule (how its value is checked, and whether `Orgs.update`
takes it). `ORG_RULES` and `ORG_UPDATABLE` are read off it, and so are the REST
API's org shapes; a new org column needs its migration, `schema.py` and a field
here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeVar

from tenantkit.errors import InvalidField
from tenantkit.orgs._validate import (
    check_domain,
    check_json_object,
    check_name,
    check_positive,
    check_text,
)
from tenantkit.tokens import OrgMemberInfo

__all__ = [
    "ORG_RULES",
    "ORG_UPDATABLE",
    "ApiKey",
    "ApiKeyValidation",
    "AuditEntry",
    "CreatedApiKey",
    "CreatedInvite",
    "DomainVerification",
    "FeatureFlag",
    "Invite",
    "InviteDelivery",
    "Member",
    "Membership",
    "Org",
    "OrgMemberInfo",
    "Page",
    "Role",
    "RoleMapping",
    "Settings",
    "User",
    "UserOrg",
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
    #: Cursor paging only: the cursors of the pages before and after (None: nothing there).
    before: str | None = None
    after: str | None = None

    @property
    def has_more(self) -> bool:
        """More matches after this page (unknown without a total: a full page says yes)."""
        if self.total < 0:
            return len(self.items) == self.page_size
        return (self.page_number + 1) * self.page_size < self.total


# --- org fields: how a value is checked, and whether an update may change it -------

Check = Callable[[str, Any], Any]


def _rule(check: Check, *, updatable: bool = True) -> dict[str, Any]:
    """The metadata of a field callers may set: `check(field, value)` returns the value
    to store or raises `InvalidField`; `updatable=False` fields are set at creation only."""
    return {"check": check, "updatable": updatable}


def _optional(check: Check) -> Check:
    return lambda name, value: None if value is None else check(name, value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidField(name, "must be true or false")
    return value


def _domains(name: str, value: Any) -> list[str]:
    if value is None or isinstance(value, str):
        raise InvalidField(name, "must be a list of domains")
    return sorted({check_domain(name, d) for d in value})


def _timestamp(name: str, value: object) -> datetime | None:
    if value is not None and not isinstance(value, datetime):
        raise InvalidField(name, "must be a timestamp")
    return value


def _external_key(name: str, value: object) -> str | None:
    # An id another system chose: empty means none.
    return None if value is None else check_text(name, value, max_length=200) or None


@dataclass(frozen=True, slots=True)
class Org:
    org_id: str
    name: str = field(metadata=_rule(check_name))
    url_safe_org_name: str
    metadata: dict[str, Any] = field(metadata=_rule(check_json_object))
    max_users: int | None = field(metadata=_rule(_optional(check_positive)))
    domain: str | None = field(metadata=_rule(_optional(check_domain)))
    extra_domains: list[str] = field(metadata=_rule(_domains))
    domain_autojoin: bool = field(metadata=_rule(_flag))
    domain_restrict: bool = field(metadata=_rule(_flag))
    custom_role_mapping_name: str | None = field(metadata=_rule(_optional(check_name)))
    legacy_org_id: str | None = field(metadata=_rule(_external_key))
    external_id: str | None = field(metadata=_rule(_external_key))
    can_setup_saml: bool = field(metadata=_rule(_flag))
    is_saml_configured: bool = field(metadata=_rule(_flag))
    is_saml_in_test_mode: bool = field(metadata=_rule(_flag))
    require_2fa_by: datetime | None = field(metadata=_rule(_timestamp))
    isolated: bool = field(metadata=_rule(_flag, updatable=False))
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Org:
        return cls(**_fields(cls, row))


#: Org field -> its check, for every field callers may set.
ORG_RULES: Final[Mapping[str, Check]] = {
    f.name: f.metadata["check"] for f in fields(Org) if "check" in f.metadata
}
#: The fields `Orgs.update` takes (an end user's role may change only name and
#: metadata: the database's column privileges decide that).
ORG_UPDATABLE: Final = frozenset(
    f.name for f in fields(Org) if f.metadata.get("updatable")
)


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
class InviteDelivery:
    """How sending an invite went: pending (not tried), sent, or failed (with the error)."""

    delivery_state: str
    delivery_attempts: int
    delivery_error: str | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> InviteDelivery:
        return cls(**_fields(cls, row))


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
    #: Sending it after commit (the end-user API's invite sender records each attempt).
    delivery: InviteDelivery

    @classmethod
    def from_row(cls, row: Any) -> Invite:
        return cls(**_fields(cls, row), delivery=InviteDelivery.from_row(row))


@dataclass(frozen=True, slots=True)
class DomainVerification:
    """A domain an org asked for: pending until its DNS TXT record shows `token`."""

    org_id: str
    domain: str
    token: str
    state: str
    created_at: datetime
    verified_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> DomainVerification:
        return cls(**_fields(cls, row))


@dataclass(frozen=True, slots=True)
class UserOrg:
    """One of the bound user's own memberships, with its org's name and its status."""

    org_id: str
    org_name: str
    url_safe_org_name: str
    role: str
    additional_roles: list[str]
    status: str
    joined_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> UserOrg:
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
    #: Shown in `GET /custom_role_mappings`.
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RoleMapping:
    """An ordered list of roles (rank 1 first) that orgs subscribe to by name."""

    name: str
    roles: tuple[Role, ...]
    multi_role: bool = False
    is_default: bool = False
    num_orgs_subscribed: int = 0

    @property
    def org_role_structure(self) -> str:
        """PropelAuth's name for how the mapping's roles combine."""
        return "multi_role" if self.multi_role else "single_role_in_hierarchy"

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
            org_role_structure=self.org_role_structure,
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
