"""What a route demands of the caller in the requested org, shared by the ASGI
middleware, the FastAPI dependencies and the Flask decorators.

    Requirement.member()
    Requirement.exact_role("Admin")
    Requirement.minimum_role("Admin")
    Requirement.permission("notes:delete")
    Requirement.all_permissions(["notes:read", "notes:delete"])
    Requirement.any_role(["admin", "billing"])     # WorkOS's "any of these roles"
    Requirement.two_factor()                       # PropelAuth's require_2fa_by

A requirement only selects one of `tenantkit.authz`'s checks, so the semantics
(PropelAuth's, 401 without a principal, 403 otherwise) live in one place. Arguments
are validated when the requirement is built: a typo fails at startup.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from tenantkit import authz
from tenantkit.tokens import OrgMemberInfo, Principal
from tenantkit.tokens.principal import (
    _check_permission,
    _check_permissions,
    _check_role,
    _check_roles,
)

__all__ = ["Requirement", "RequirementKind", "UserAndOrgMemberInfo"]

RequirementKind = Literal[
    "member", "exact_role", "minimum_role", "permission", "all_permissions", "any_role",
    "two_factor",
]


@dataclass(frozen=True, slots=True)
class UserAndOrgMemberInfo:
    """The verified caller and their membership in the requested org (PropelAuth's name)."""

    user: Principal
    org_member_info: OrgMemberInfo

    @property
    def org_id(self) -> str:
        return self.org_member_info.org_id


@dataclass(frozen=True, slots=True)
class Requirement:
    """One of PropelAuth's org checks; build with the class methods."""

    kind: RequirementKind
    values: tuple[str, ...] = ()

    @classmethod
    def member(cls) -> Requirement:
        """Any member of the org (the token lists it)."""
        return cls("member")

    @classmethod
    def exact_role(cls, role: str) -> Requirement:
        """A member whose role is exactly `role` (or, multi-role, one of their roles)."""
        return cls("exact_role", (_check_role(role),))

    @classmethod
    def minimum_role(cls, role: str) -> Requirement:
        """A member whose role is `role` or ranks above it."""
        return cls("minimum_role", (_check_role(role),))

    @classmethod
    def permission(cls, permission: str) -> Requirement:
        """A member holding `permission`."""
        return cls("permission", (_check_permission(permission),))

    @classmethod
    def all_permissions(cls, permissions: Collection[str]) -> Requirement:
        """A member holding every one of `permissions` (a non-empty collection)."""
        return cls("all_permissions", tuple(_check_permissions(permissions)))

    @classmethod
    def any_role(cls, roles: Collection[str]) -> Requirement:
        """A member holding one of `roles` exactly (WorkOS's "any of these roles")."""
        return cls("any_role", tuple(_check_roles(roles)))

    @classmethod
    def two_factor(cls) -> Requirement:
        """A member, with MFA once the org's `require_2fa_by` has passed."""
        return cls("two_factor")

    def check(self, principal: Principal | None, org_id: str | None) -> OrgMemberInfo:
        """The caller's membership in `org_id`, or `Unauthorized` / `Forbidden`."""
        kind = self.kind
        if kind == "member":
            return authz.require_org_member(principal, org_id)
        if kind == "exact_role":
            return authz.require_org_member_with_exact_role(principal, org_id, self.values[0])
        if kind == "minimum_role":
            return authz.require_org_member_with_minimum_role(principal, org_id, self.values[0])
        if kind == "permission":
            return authz.require_org_member_with_permission(principal, org_id, self.values[0])
        if kind == "any_role":
            return authz.require_org_member_with_any_role(principal, org_id, self.values)
        if kind == "two_factor":
            return authz.require_org_member_with_two_factor(principal, org_id)
        return authz.require_org_member_with_all_permissions(principal, org_id, self.values)

    def __repr__(self) -> str:
        args = ", ".join(repr(v) for v in self.values)
        if self.kind in ("all_permissions", "any_role"):
            args = f"[{args}]"
        return f"Requirement.{self.kind}({args})"
