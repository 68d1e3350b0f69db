"""Who a verified access token says the caller is: `Principal` and its `OrgMemberInfo`s.

Field and method names are PropelAuth's (`user_role`,
`inherited_user_roles_plus_current_role`, `user_is_at_least_role`, ...), so code
written against propelauth-py reads the same. The role checks follow PropelAuth's
semantics, with one deliberate difference: a `None` role or permission, or an empty
permission list, raises instead of silently passing.

Instances are frozen and shared between requests by the verified-token cache; the
mappings they hold are read-only views, and nothing in them may be mutated.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "MULTI_ROLE",
    "SINGLE_ROLE_IN_HIERARCHY",
    "LoginMethod",
    "OrgMemberInfo",
    "Principal",
]

#: PropelAuth's default structure: one role, ranked; the token lists every role it implies.
SINGLE_ROLE_IN_HIERARCHY: Final = "single_role_in_hierarchy"
#: Unranked roles: a member holds `user_role` plus `additional_roles`, nothing is implied.
MULTI_ROLE: Final = "multi_role"

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY  # one shared read-only instance


def _check_role(role: object) -> str:
    # PropelAuth skips the check when the role is None; here that is a caller's bug.
    if not isinstance(role, str):
        raise TypeError(f"role must be a str, not {type(role).__name__}")
    if not role:
        raise ValueError("role must not be empty")
    return role


def _check_roles(roles: object) -> Collection[str]:
    # The same rules as permissions: a bare string or an empty list is a caller's bug.
    if isinstance(roles, str | bytes) or not isinstance(roles, Collection):
        raise TypeError("roles must be a collection of str, such as a list")
    if not roles:
        raise ValueError("roles must not be empty")
    for role in roles:
        _check_role(role)
    return roles


def _check_permissions(permissions: object) -> Collection[str]:
    # A bare string would be checked letter by letter; an empty list would always pass.
    if isinstance(permissions, str | bytes) or not isinstance(permissions, Collection):
        raise TypeError("permissions must be a collection of str, such as a list")
    if not permissions:
        raise ValueError("permissions must not be empty")
    for permission in permissions:
        _check_permission(permission)
    return permissions


def _check_permission(permission: object) -> str:
    if not isinstance(permission, str):
        raise TypeError(f"permission must be a str, not {type(permission).__name__}")
    if not permission:
        raise ValueError("permission must not be empty")
    return permission


@dataclass(frozen=True, slots=True)
class LoginMethod:
    """How the user signed in (PropelAuth's `login_method` claim), e.g. `password` or `saml_sso`."""

    login_method: str
    provider: str | None = None
    org_id: str | None = None

    def to_claims(self) -> dict[str, str]:
        """This login method in PropelAuth's token shape (unset fields left out)."""
        fields = (
            ("login_method", self.login_method),
            ("provider", self.provider),
            ("org_id", self.org_id),
        )
        return {name: value for name, value in fields if value is not None}


@dataclass(frozen=True, slots=True)
class OrgMemberInfo:
    """The user's membership in one org, as the token states it (a snapshot, not the database).

    Built by hand for `TokenIssuer.issue`: when `inherited_user_roles_plus_current_role`
    is left empty it becomes `(user_role,)`, so a member is always at least its own role.
    """

    org_id: str
    user_role: str
    inherited_user_roles_plus_current_role: tuple[str, ...] = ()
    user_permissions: tuple[str, ...] = ()
    org_name: str | None = None
    url_safe_org_name: str | None = None
    org_metadata: Mapping[str, Any] = field(default_factory=_empty, hash=False)
    additional_roles: tuple[str, ...] = ()
    org_role_structure: str = SINGLE_ROLE_IN_HIERARCHY
    legacy_org_id: str | None = None
    #: The identity provider's id for this org when `org_id` was resolved from it
    #: (`tenantkit.identity`); None when the token carried tenantkit's own id.
    external_org_id: str | None = None
    #: PropelAuth's per-org 2FA deadline (Unix seconds), when the token states it:
    #: past it, `two_factor_required()` is true and members without MFA are refused.
    require_2fa_by: int | None = None

    def __post_init__(self) -> None:
        if not self.inherited_user_roles_plus_current_role:
            object.__setattr__(self, "inherited_user_roles_plus_current_role", (self.user_role,))

    def user_is_role(self, role: str) -> bool:
        """Exact role: `user_role`, or in a multi-role org also one of `additional_roles`."""
        _check_role(role)
        if role == self.user_role:
            return True
        return self.org_role_structure == MULTI_ROLE and role in self.additional_roles

    def user_is_at_least_role(self, role: str) -> bool:
        """Minimum role: implied by the hierarchy; in a multi-role org, same as `user_is_role`."""
        _check_role(role)
        if self.org_role_structure == MULTI_ROLE:
            return role == self.user_role or role in self.additional_roles
        return role in self.inherited_user_roles_plus_current_role

    def user_is_any_role(self, roles: Collection[str]) -> bool:
        """WorkOS's "any of these roles": whether `user_is_role` holds for one of `roles`."""
        return any(self.user_is_role(role) for role in _check_roles(roles))

    def two_factor_required(self, now: float) -> bool:
        """Whether the org's `require_2fa_by` deadline has passed at `now` (Unix seconds)."""
        return self.require_2fa_by is not None and now >= self.require_2fa_by

    def user_has_permission(self, permission: str) -> bool:
        """Whether `permission` is in `user_permissions`."""
        return _check_permission(permission) in self.user_permissions

    def user_has_all_permissions(self, permissions: Collection[str]) -> bool:
        """Whether every permission is in `user_permissions`; an empty collection raises."""
        granted = self.user_permissions
        return all(p in granted for p in _check_permissions(permissions))

    def to_claims(self) -> dict[str, Any]:
        """This membership in PropelAuth's token shape (JSON-ready)."""
        return {
            "org_id": self.org_id,
            "org_name": self.org_name,
            "url_safe_org_name": self.url_safe_org_name,
            "org_metadata": dict(self.org_metadata),
            "user_role": self.user_role,
            "inherited_user_roles_plus_current_role": list(
                self.inherited_user_roles_plus_current_role
            ),
            "user_permissions": list(self.user_permissions),
            "org_role_structure": self.org_role_structure,
            "additional_roles": list(self.additional_roles),
            "legacy_org_id": self.legacy_org_id,
        } | ({} if self.require_2fa_by is None else {"require_2fa_by": self.require_2fa_by})


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller: user fields plus org memberships, keyed by org id.

    `claims` is the whole verified payload, for claims tenantkit does not model
    (WorkOS `sid`, `entitlements`, custom claims). `active_org_id` is set when the
    token names one org (PropelAuth's `org_member_info`, WorkOS's `org_id`); it is
    a hint from the token, never a fallback for an org id the request left out.
    """

    user_id: str
    org_id_to_org_member_info: Mapping[str, OrgMemberInfo] = field(
        default_factory=_empty, hash=False
    )
    active_org_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    properties: Mapping[str, Any] = field(default_factory=_empty, hash=False)
    legacy_user_id: str | None = None
    impersonator_user_id: str | None = None
    login_method: LoginMethod | None = None
    claims: Mapping[str, Any] = field(default_factory=_empty, hash=False, repr=False)
    #: The identity provider's user id when `user_id` was resolved from it
    #: (`tenantkit.identity`); None when the token carried tenantkit's own id.
    external_user_id: str | None = None
    #: Whether the user signed in with a second factor, when the token says
    #: (PropelAuth's `mfa_enabled`, Supabase's `aal2`, Auth0's `amr`); None: unknown,
    #: which a 2FA check treats as "no".
    mfa_enabled: bool | None = None

    def get_org(self, org_id: str) -> OrgMemberInfo | None:
        """The membership in `org_id`, or None."""
        return self.org_id_to_org_member_info.get(org_id)

    def get_orgs(self) -> list[OrgMemberInfo]:
        """Every membership the token lists."""
        return list(self.org_id_to_org_member_info.values())

    def get_active_org(self) -> OrgMemberInfo | None:
        """The membership the token is scoped to, if it names one."""
        if self.active_org_id is None:
            return None
        return self.org_id_to_org_member_info.get(self.active_org_id)

    def is_impersonated(self) -> bool:
        """Whether someone else is acting as this user."""
        if self.impersonator_user_id is not None:
            return True
        return self.login_method is not None and self.login_method.login_method == "impersonation"
