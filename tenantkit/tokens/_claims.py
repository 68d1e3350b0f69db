"""Claim adapters: turn a verified token payload into a `Principal`.

- `PropelAuthClaims`: `user_id` plus either `org_id_to_org_member_info` (all orgs)
  or `org_member_info` (one active org, which wins when present, as in PropelAuth).
- `WorkOSClaims`: `sub`, and one org from `org_id`, `role`, `roles`, `permissions`.
  WorkOS has no role hierarchy; give one (highest role first) to make minimum-role
  checks rank roles, or leave it out and every role only counts as itself.

Adapters see claims whose signature, times, issuer and audience are already
checked; they check shape and raise `Unauthorized` naming the offending claim.
User and org ids must fully match `id_pattern`: lowercase canonical UUIDs for
PropelAuth, `user_…`/`org_…` ids for WorkOS, unless configured otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NoReturn, Protocol

from tenantkit.context import UUID_PATTERN
from tenantkit.errors import Unauthorized
from tenantkit.tokens.principal import (
    MULTI_ROLE,
    SINGLE_ROLE_IN_HIERARCHY,
    LoginMethod,
    OrgMemberInfo,
    Principal,
)

__all__ = [
    "WORKOS_ID_PATTERN",
    "ClaimsAdapter",
    "PropelAuthClaims",
    "WorkOSClaims",
]

#: WorkOS user and organization ids: a prefix and a 26-character ULID.
WORKOS_ID_PATTERN: Final = re.compile(r"(?:user|org)_[0-9A-HJKMNP-TV-Z]{26}")

_STRUCTURES = frozenset({SINGLE_ROLE_IN_HIERARCHY, MULTI_ROLE})
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ClaimsAdapter(Protocol):
    """Maps a verified payload to a `Principal`; raises `Unauthorized` on a malformed claim."""

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        ...


def _malformed(name: str) -> NoReturn:
    raise Unauthorized(f"token claim {name!r} is malformed")


def _missing(name: str) -> NoReturn:
    raise Unauthorized(f"token claim {name!r} is missing")


def _id(value: object, name: str, pattern: re.Pattern[str]) -> str:
    # type() rather than isinstance(): a str subclass could override comparison.
    if type(value) is str and pattern.fullmatch(value):
        return value
    if value is None:
        _missing(name)
    _malformed(name)


def _optional_str(value: object, name: str) -> str | None:
    if value is None or type(value) is str:
        return value
    _malformed(name)


def _optional_int(value: object, name: str) -> int | None:
    if value is None or type(value) is int:
        return value
    _malformed(name)


def _optional_bool(value: object, name: str) -> bool | None:
    if value is None or type(value) is bool:
        return value
    _malformed(name)


def _role(value: object, name: str) -> str:
    if type(value) is str and value:
        return value
    if value is None:
        _missing(name)
    _malformed(name)


def _strings(value: object, name: str) -> tuple[str, ...]:
    if type(value) is list and all(type(item) is str for item in value):
        return tuple(value)
    _malformed(name)


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if type(value) is dict:
        return MappingProxyType(value)
    _malformed(name)


class PropelAuthClaims:
    """PropelAuth's access-token shape (also what `TokenIssuer` signs).

    Deliberately like propelauth-py: an org entry whose `user_role` is null is
    dropped, an unknown `login_method` kind is kept as given. Deliberately
    stricter: ids must match `id_pattern`, every field must have its JSON type,
    and a map key must equal the `org_id` of its entry.
    """

    def __init__(self, *, id_pattern: re.Pattern[str] = UUID_PATTERN) -> None:
        self._ids = id_pattern

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        user_id = _id(claims.get("user_id"), "user_id", self._ids)
        orgs: dict[str, OrgMemberInfo] = {}
        active_org_id = None
        active = claims.get("org_member_info")
        if active:  # present and non-empty: PropelAuth then ignores the org map
            org = self._org(active, "org_member_info")
            if org is not None:
                orgs[org.org_id] = org
                active_org_id = org.org_id
        else:
            raw_orgs = claims.get("org_id_to_org_member_info")
            if raw_orgs is not None:
                if type(raw_orgs) is not dict:
                    _malformed("org_id_to_org_member_info")
                for org_key, raw in raw_orgs.items():
                    org = self._org(raw, "org_id_to_org_member_info")
                    if org is None:
                        continue
                    if org.org_id != org_key:
                        _malformed("org_id_to_org_member_info")
                    orgs[org_key] = org
        impersonator = claims.get("impersonator_user_id")
        if impersonator is not None:
            _id(impersonator, "impersonator_user_id", self._ids)
        return Principal(
            user_id=user_id,
            org_id_to_org_member_info=MappingProxyType(orgs),
            active_org_id=active_org_id,
            email=_optional_str(claims.get("email"), "email"),
            first_name=_optional_str(claims.get("first_name"), "first_name"),
            last_name=_optional_str(claims.get("last_name"), "last_name"),
            username=_optional_str(claims.get("username"), "username"),
            properties=_mapping(claims.get("properties"), "properties"),
            legacy_user_id=_optional_str(claims.get("legacy_user_id"), "legacy_user_id"),
            impersonator_user_id=impersonator,
            login_method=self._login_method(claims.get("login_method")),
            claims=MappingProxyType(claims),
            mfa_enabled=_optional_bool(claims.get("mfa_enabled"), "mfa_enabled"),
        )

    def _org(self, raw: object, where: str) -> OrgMemberInfo | None:
        if type(raw) is not dict:
            _malformed(where)
        org_id = _id(raw.get("org_id"), f"{where}.org_id", self._ids)
        for required in (
            "org_name",
            "url_safe_org_name",
            "org_metadata",
            "user_role",
            "inherited_user_roles_plus_current_role",
            "user_permissions",
        ):
            if required not in raw:
                _missing(f"{where}.{required}")
        role = raw["user_role"]
        if role is None:
            return None  # propelauth-py drops such an entry; the user is then no member
        structure = raw.get("org_role_structure", SINGLE_ROLE_IN_HIERARCHY)
        if type(structure) is not str or structure not in _STRUCTURES:
            _malformed(f"{where}.org_role_structure")
        additional = raw.get("additional_roles")
        return OrgMemberInfo(
            org_id=org_id,
            user_role=_role(role, f"{where}.user_role"),
            inherited_user_roles_plus_current_role=_strings(
                raw["inherited_user_roles_plus_current_role"],
                f"{where}.inherited_user_roles_plus_current_role",
            ),
            user_permissions=_strings(raw["user_permissions"], f"{where}.user_permissions"),
            org_name=_optional_str(raw["org_name"], f"{where}.org_name"),
            url_safe_org_name=_optional_str(raw["url_safe_org_name"], f"{where}.url_safe_org_name"),
            org_metadata=_mapping(raw["org_metadata"], f"{where}.org_metadata"),
            additional_roles=(
                () if additional is None else _strings(additional, f"{where}.additional_roles")
            ),
            org_role_structure=structure,
            legacy_org_id=_optional_str(raw.get("legacy_org_id"), f"{where}.legacy_org_id"),
            require_2fa_by=_optional_int(raw.get("require_2fa_by"), f"{where}.require_2fa_by"),
        )

    def _login_method(self, raw: object) -> LoginMethod | None:
        if raw is None:
            return None
        if type(raw) is not dict:
            _malformed("login_method")
        kind = raw.get("login_method")
        if type(kind) is not str:
            _malformed("login_method")
        org_id = raw.get("org_id")
        if org_id is not None:
            _id(org_id, "login_method.org_id", self._ids)
        return LoginMethod(kind, _optional_str(raw.get("provider"), "login_method"), org_id)


class WorkOSClaims:
    """WorkOS AuthKit's access-token shape: one org per token.

    `role_hierarchy` lists role slugs highest first, e.g. `["owner", "admin",
    "member"]` (WorkOS's priority order, or tenantkit's role mapping). With it,
    the org is `single_role_in_hierarchy` and a role implies every role below it;
    a role outside the hierarchy implies only itself. Without it, the org is
    `multi_role`: `role` plus the other `roles`, none implying another.
    An impersonated session (`act` claim) gets `login_method` "impersonation".
    """

    def __init__(
        self,
        *,
        role_hierarchy: Sequence[str] | None = None,
        id_pattern: re.Pattern[str] = WORKOS_ID_PATTERN,
    ) -> None:
        self._ids = id_pattern
        self._hierarchy: tuple[str, ...] | None = None
        if role_hierarchy is not None:
            hierarchy = tuple(role_hierarchy)
            if isinstance(role_hierarchy, str) or not hierarchy:
                raise ValueError("role_hierarchy is a non-empty sequence of role slugs")
            if not all(isinstance(r, str) and r for r in hierarchy):
                raise ValueError("every role in role_hierarchy must be a non-empty str")
            if len(set(hierarchy)) != len(hierarchy):
                raise ValueError("role_hierarchy repeats a role")
            self._hierarchy = hierarchy
        self._rank = {role: i for i, role in enumerate(self._hierarchy or ())}

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        user_id = _id(claims.get("sub"), "sub", self._ids)
        orgs: dict[str, OrgMemberInfo] = {}
        org_id = claims.get("org_id")
        if org_id is not None:
            org_id = _id(org_id, "org_id", self._ids)
            orgs[org_id] = self._membership(org_id, claims)
        act = claims.get("act")
        login_method = None
        if act is not None:
            if type(act) is not dict or type(act.get("sub")) is not str:
                _malformed("act")
            login_method = LoginMethod("impersonation")
        return Principal(
            user_id=user_id,
            org_id_to_org_member_info=MappingProxyType(orgs),
            active_org_id=org_id,
            login_method=login_method,
            claims=MappingProxyType(claims),
        )

    def _membership(self, org_id: str, claims: dict[str, Any]) -> OrgMemberInfo:
        role = _role(claims.get("role"), "role")
        raw_roles = claims.get("roles")
        roles = (role,) if raw_roles is None else _strings(raw_roles, "roles")
        others = tuple(r for r in roles if r != role)
        raw_permissions = claims.get("permissions")
        permissions = () if raw_permissions is None else _strings(raw_permissions, "permissions")
        if self._hierarchy is None:
            return OrgMemberInfo(
                org_id=org_id,
                user_role=role,
                inherited_user_roles_plus_current_role=(role, *others),
                user_permissions=permissions,
                additional_roles=others,
                org_role_structure=MULTI_ROLE,
            )
        return OrgMemberInfo(
            org_id=org_id,
            user_role=role,
            inherited_user_roles_plus_current_role=self._implied((role, *others)),
            user_permissions=permissions,
            additional_roles=others,
            org_role_structure=SINGLE_ROLE_IN_HIERARCHY,
        )

    def _implied(self, roles: tuple[str, ...]) -> tuple[str, ...]:
        assert self._hierarchy is not None
        ranks = [self._rank[r] for r in roles if r in self._rank]
        below = self._hierarchy[min(ranks) :] if ranks else ()
        return below + tuple(r for r in roles if r not in self._rank)
