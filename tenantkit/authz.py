"""PropelAuth-style checks on a verified `Principal`: 401 without one, 403 when not allowed.

    org = require_org_member_with_minimum_role(principal, org_id, "Admin")

Each `require_org_member*` returns the caller's `OrgMemberInfo` for `org_id` or raises:
- `Unauthorized` (401) "authentication required" when `principal` is None;
- `Forbidden` (403) "required org is unspecified" when `org_id` is None or empty,
  "user is not a member of this org", "user doesn't have the required role" or
  "user doesn't have the required permission".

The checks are PropelAuth's (see `OrgMemberInfo`). Deliberate differences:
- a role or permission that is None or empty, a permission collection that is
  empty, or a bare string where a collection is expected raises `TypeError` or
  `ValueError` before any check: it is a bug in the caller, not a reason to pass;
- the org id is always the caller's explicit choice; there is no "first org" or
  "active org" fallback, and messages never echo the org id.

These read the token's snapshot. The database re-checks membership and role on
every transaction, so a revoked member loses data access before the token expires.

An org API key (`ApiKeyPrincipal`) passes where the check makes sense for a
key: `require_org_member` in the key's own org (another org: 403 "this API key
belongs to another org") and the permission checks, against the key's
permissions. A key has no role, is no user and signs in with no second factor,
so `require_user` and the role and 2FA checks refuse it with `ApiKeyRefused`
(403, `api_key_refused`) rather than a misleading "doesn't have the role".
"""

from __future__ import annotations

import time
from collections.abc import Collection
from uuid import UUID

from tenantkit.errors import ApiKeyRefused, Forbidden, Unauthorized
from tenantkit.tokens import ApiKeyPrincipal, OrgMemberInfo, Principal
from tenantkit.tokens.principal import (
    _check_permission,
    _check_permissions,
    _check_role,
    _check_roles,
)

__all__ = [
    "require_org_member",
    "require_org_member_with_all_permissions",
    "require_org_member_with_any_role",
    "require_org_member_with_exact_role",
    "require_org_member_with_minimum_role",
    "require_org_member_with_permission",
    "require_org_member_with_two_factor",
    "require_user",
]

OrgId = str | UUID | None


def _authenticated(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required")
    return principal


def require_user(principal: Principal | None) -> Principal:
    """The principal, or `Unauthorized` when the request carried no valid token.

    An org API key is no user: `ApiKeyRefused` (403).
    """
    return _refuse_key(_authenticated(principal), "this needs a signed-in user")


def _refuse_key(principal: Principal, what: str) -> Principal:
    if isinstance(principal, ApiKeyPrincipal):
        raise ApiKeyRefused(f"{what}; an org API key is not a user and has no role")
    return principal


def require_org_member(principal: Principal | None, org_id: OrgId) -> OrgMemberInfo:
    """The caller's membership in `org_id` (a str or `uuid.UUID`); for an org API
    key, its own org."""
    user = _authenticated(principal)
    if isinstance(org_id, UUID):
        org_id = str(org_id)  # canonical lowercase, the form tokens carry
    elif org_id is not None and not isinstance(org_id, str):
        raise TypeError(f"org_id must be a str or UUID, not {type(org_id).__name__}")
    if not org_id:
        raise Forbidden("required org is unspecified")
    org = user.org_id_to_org_member_info.get(org_id)
    if org is None:
        if isinstance(user, ApiKeyPrincipal):
            raise Forbidden("this API key belongs to another org")
        raise Forbidden("user is not a member of this org")
    return org


def _require_user_role(
    principal: Principal | None, org_id: OrgId, check: str
) -> OrgMemberInfo:
    # Authenticated first (401 beats 403), then no key (a role is a user's), then the org.
    _refuse_key(_authenticated(principal), f"the {check} check needs a user")
    return require_org_member(principal, org_id)


def require_org_member_with_exact_role(
    principal: Principal | None, org_id: OrgId, role: str
) -> OrgMemberInfo:
    """Membership whose role is exactly `role` (or, in a multi-role org, one of its roles)."""
    _check_role(role)
    org = _require_user_role(principal, org_id, "exact role")
    if not org.user_is_role(role):
        raise Forbidden("user doesn't have the required role")
    return org


def require_org_member_with_minimum_role(
    principal: Principal | None, org_id: OrgId, minimum_role: str
) -> OrgMemberInfo:
    """Membership whose role is `minimum_role` or implies it."""
    _check_role(minimum_role)
    org = _require_user_role(principal, org_id, "minimum role")
    if not org.user_is_at_least_role(minimum_role):
        raise Forbidden("user doesn't have the required role")
    return org


def require_org_member_with_any_role(
    principal: Principal | None, org_id: OrgId, roles: Collection[str]
) -> OrgMemberInfo:
    """Membership holding one of `roles` exactly (WorkOS's "any of these roles")."""
    _check_roles(roles)
    org = _require_user_role(principal, org_id, "any role")
    if not org.user_is_any_role(roles):
        raise Forbidden("user doesn't have the required role")
    return org


def require_org_member_with_two_factor(
    principal: Principal | None, org_id: OrgId, *, now: float | None = None
) -> OrgMemberInfo:
    """Membership, and past the org's `require_2fa_by`, a user who signed in with MFA.

    An unknown MFA state (`mfa_enabled` None) past the deadline is refused; an
    org API key always (`ApiKeyRefused`: it signs in with no factor at all).
    """
    org = _require_user_role(principal, org_id, "two-factor")
    assert principal is not None
    if org.two_factor_required(time.time() if now is None else now) and not principal.mfa_enabled:
        raise Forbidden("user must enable two-factor authentication for this org")
    return org


def require_org_member_with_permission(
    principal: Principal | None, org_id: OrgId, permission: str
) -> OrgMemberInfo:
    """Membership that holds `permission` (an org API key: the key carries it)."""
    _check_permission(permission)
    org = require_org_member(principal, org_id)
    if not org.user_has_permission(permission):
        raise Forbidden("user doesn't have the required permission")
    return org


def require_org_member_with_all_permissions(
    principal: Principal | None, org_id: OrgId, permissions: Collection[str]
) -> OrgMemberInfo:
    """Membership that holds every one of `permissions` (a non-empty collection)."""
    _check_permissions(permissions)
    org = require_org_member(principal, org_id)
    if not org.user_has_all_permissions(permissions):
        raise Forbidden("user doesn't have the required permission")
    return org
