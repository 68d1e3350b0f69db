"""Claim adapters for more identity providers: Auth0, Clerk, Keycloak, Supabase Auth.

Each is one class with `to_principal(claims)` (the `ClaimsAdapter` protocol),
reading the provider's documented access-token shape. Ids stay the provider's
(`auth0|…`, `user_2…`, Keycloak and Supabase UUIDs); `tenantkit.identity`
maps them to tenantkit's before anything is bound (for Keycloak and Supabase,
whose ids are UUIDs of their own, with `uuid_passthrough=False`).

Roles: where a provider puts no role in the token (Auth0 without a roles
claim, Keycloak), the member gets `default_role`. The database, not the token,
decides membership and role at query time in any case.

Adding a provider is one class: read its claims with the helpers here, raise
`Unauthorized` naming a malformed claim, return a `Principal`.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Final

from tenantkit.context import UUID_PATTERN
from tenantkit.tokens._claims import _id, _malformed, _missing, _optional_str, _role, _strings
from tenantkit.tokens.principal import MULTI_ROLE, OrgMemberInfo, Principal

__all__ = [
    "AUTH0_ORG_PATTERN",
    "CLERK_ID_PATTERN",
    "Auth0Claims",
    "ClerkClaims",
    "KeycloakClaims",
    "SupabaseClaims",
]

#: Auth0 user ids are `<connection>|<id>` (`auth0|…`, `google-oauth2|…`).
AUTH0_USER_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}\|[A-Za-z0-9_.@:-]{1,190}")
#: Auth0 organization ids: `org_` and 16 alphanumerics.
AUTH0_ORG_PATTERN: Final = re.compile(r"org_[A-Za-z0-9]{16}")
#: Clerk ids: `user_` / `org_` and a 27-character KSUID-like base62 string.
CLERK_ID_PATTERN: Final = re.compile(r"(?:user|org)_[A-Za-z0-9]{27}")
#: Keycloak user ids and organization ids: UUIDs (the one spelling, context's).
_KEYCLOAK_UUID: Final = UUID_PATTERN
#: A Keycloak organization alias (when the token carries aliases only).
_KEYCLOAK_ALIAS: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_SUPABASE_ORG: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}")


def _principal(
    user_id: str,
    orgs: dict[str, OrgMemberInfo],
    active: str | None,
    claims: dict[str, Any],
    mfa_enabled: bool | None = None,
) -> Principal:
    return Principal(
        user_id=user_id,
        org_id_to_org_member_info=MappingProxyType(orgs),
        active_org_id=active,
        email=_optional_str(claims.get("email"), "email"),
        claims=MappingProxyType(claims),
        mfa_enabled=mfa_enabled,
    )


def _member(
    org_id: str,
    roles: tuple[str, ...],
    permissions: tuple[str, ...],
    *,
    org_name: str | None = None,
    url_safe_org_name: str | None = None,
) -> OrgMemberInfo:
    """An unranked membership: the first role plus the others, none implying another."""
    return OrgMemberInfo(
        org_id=org_id,
        user_role=roles[0],
        inherited_user_roles_plus_current_role=roles,
        user_permissions=permissions,
        org_name=org_name,
        url_safe_org_name=url_safe_org_name,
        additional_roles=roles[1:],
        org_role_structure=MULTI_ROLE,
    )


def _default_role(role: str) -> str:
    if not isinstance(role, str) or not role:
        raise ValueError("default_role must be a non-empty str")
    return role


class Auth0Claims:
    """Auth0 access tokens: `sub`, `org_id` (Auth0 Organizations), `permissions` (RBAC).

    Auth0 puts no role in the token; name the custom claim an Action adds
    (`roles_claim="https://example.com/roles"`), else the member gets `default_role`.
    """

    def __init__(self, *, roles_claim: str | None = None, default_role: str = "member") -> None:
        self._roles_claim = roles_claim
        self._default_role = _default_role(default_role)

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        user_id = _id(claims.get("sub"), "sub", AUTH0_USER_PATTERN)
        orgs: dict[str, OrgMemberInfo] = {}
        org_id = claims.get("org_id")
        if org_id is not None:
            org_id = _id(org_id, "org_id", AUTH0_ORG_PATTERN)
            roles: tuple[str, ...] = (self._default_role,)
            if self._roles_claim is not None and claims.get(self._roles_claim) is not None:
                roles = _strings(claims[self._roles_claim], self._roles_claim) or roles
                if not all(roles):
                    _malformed(self._roles_claim)
            raw = claims.get("permissions")
            permissions = () if raw is None else _strings(raw, "permissions")
            orgs[org_id] = _member(
                org_id, roles, permissions,
                org_name=_optional_str(claims.get("org_name"), "org_name"),
            )
        amr = claims.get("amr")
        mfa = None if amr is None else "mfa" in _strings(amr, "amr")
        return _principal(user_id, orgs, org_id, claims, mfa)


class ClerkClaims:
    """Clerk session tokens, v2 (`o` claim) and v1 (`org_id`, `org_role`, `org_permissions`).

    Roles keep Clerk's `org:` prefix in both versions (`org:admin`), as Clerk's own
    `has({role: ...})` checks spell them. v2 permissions are decoded from `o.fea`,
    `o.per` and the `o.fpm` bitmasks into Clerk's `org:<feature>:<permission>` names.
    """

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        user_id = _id(claims.get("sub"), "sub", CLERK_ID_PATTERN)
        orgs: dict[str, OrgMemberInfo] = {}
        active = None
        if claims.get("v") == 2 or "o" in claims:
            raw = claims.get("o")
            if raw is not None:
                info = self._v2(raw)
                orgs[info.org_id] = info
                active = info.org_id
        elif claims.get("org_id") is not None:
            org_id = _id(claims["org_id"], "org_id", CLERK_ID_PATTERN)
            role = _role(claims.get("org_role"), "org_role")
            raw_permissions = claims.get("org_permissions")
            permissions = () if raw_permissions is None else _strings(
                raw_permissions, "org_permissions"
            )
            orgs[org_id] = _member(
                org_id, (role,), permissions,
                url_safe_org_name=_optional_str(claims.get("org_slug"), "org_slug"),
            )
            active = org_id
        return _principal(user_id, orgs, active, claims)

    def _v2(self, raw: object) -> OrgMemberInfo:
        if type(raw) is not dict:
            _malformed("o")
        org_id = _id(raw.get("id"), "o.id", CLERK_ID_PATTERN)
        role = _role(raw.get("rol"), "o.rol")
        role = role if role.startswith("org:") else f"org:{role}"
        permissions = self._v2_permissions(raw)
        return _member(
            org_id, (role,), permissions,
            url_safe_org_name=_optional_str(raw.get("slg"), "o.slg"),
        )

    @staticmethod
    def _v2_permissions(raw: dict[str, Any]) -> tuple[str, ...]:
        per, fpm, fea = raw.get("per"), raw.get("fpm"), raw.get("fea")
        if per is None and fpm is None:
            return ()
        if type(per) is not str or type(fpm) is not str or type(fea) is not str:
            _malformed("o.per")
        names = per.split(",") if per else []
        features = fea.split(",") if fea else []
        masks = fpm.split(",") if fpm else []
        if len(masks) != len(features) or not all(m.isdigit() for m in masks):
            _malformed("o.fpm")
        found: list[str] = []
        for feature, mask in zip(features, masks, strict=True):
            scope, _, name = feature.partition(":")
            if scope != "o" or not name:
                continue  # user-level features ("u:…") grant nothing in an org
            bits = int(mask)
            if bits >> len(names):
                _malformed("o.fpm")
            for i, permission in enumerate(names):
                if bits & (1 << i):
                    found.append(f"org:{name}:{permission}")
        return tuple(found)


class KeycloakClaims:
    """Keycloak (26+) organizations: the `organization` claim, a list of aliases or a map
    alias -> {"id": ...} (with "Add organization id" on the mapper).

    Keycloak has no per-organization roles: each member gets `default_role`, and
    with `client_id`, that client's roles (`resource_access.<client>.roles`) as
    permissions. An org is keyed by its id when the token carries it, else its alias.
    A token listing one organization is scoped to it.
    """

    def __init__(self, *, client_id: str | None = None, default_role: str = "member") -> None:
        self._client_id = client_id
        self._default_role = _default_role(default_role)

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        user_id = _id(claims.get("sub"), "sub", _KEYCLOAK_UUID)
        permissions = self._client_roles(claims)
        orgs: dict[str, OrgMemberInfo] = {}
        raw = claims.get("organization")
        if raw is None:
            keys: list[tuple[str, str]] = []
        elif type(raw) is list:
            keys = [(_id(a, "organization", _KEYCLOAK_ALIAS), a) for a in raw]
        elif type(raw) is dict:
            keys = []
            for alias, entry in raw.items():
                _id(alias, "organization", _KEYCLOAK_ALIAS)
                if type(entry) is not dict:
                    _malformed("organization")
                org_id = entry.get("id")
                keys.append(
                    (alias if org_id is None else _id(org_id, "organization.id", _KEYCLOAK_UUID),
                     alias)
                )
        else:
            _malformed("organization")
        for org_id, alias in keys:
            if org_id in orgs:
                _malformed("organization")
            orgs[org_id] = _member(
                org_id, (self._default_role,), permissions, url_safe_org_name=alias
            )
        active = next(iter(orgs)) if len(orgs) == 1 else None
        return _principal(user_id, orgs, active, claims)

    def _client_roles(self, claims: dict[str, Any]) -> tuple[str, ...]:
        if self._client_id is None:
            return ()
        access = claims.get("resource_access")
        if access is None:
            return ()
        if type(access) is not dict:
            _malformed("resource_access")
        client = access.get(self._client_id)
        if client is None:
            return ()
        if type(client) is not dict:
            _malformed("resource_access")
        roles = client.get("roles")
        return () if roles is None else _strings(roles, f"resource_access.{self._client_id}.roles")


class SupabaseClaims:
    """Supabase Auth access tokens: `sub` (the auth.users id), `role`, `app_metadata`.

    Supabase has no organizations; the convention here is a map the server
    writes into `app_metadata[orgs_key]` (users cannot change app_metadata):
    org id -> role, or org id -> {"role": ..., "permissions": [...]}. Tokens
    whose `role` is not "authenticated" (the anon key) are refused.
    """

    def __init__(self, *, orgs_key: str = "orgs") -> None:
        self._orgs_key = orgs_key

    def to_principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims describe."""
        user_id = _id(claims.get("sub"), "sub", _KEYCLOAK_UUID)
        if claims.get("role") != "authenticated":
            if claims.get("role") is None:
                _missing("role")
            _malformed("role")
        app_metadata = claims.get("app_metadata")
        orgs: dict[str, OrgMemberInfo] = {}
        if app_metadata is not None:
            if type(app_metadata) is not dict:
                _malformed("app_metadata")
            raw = app_metadata.get(self._orgs_key)
            where = f"app_metadata.{self._orgs_key}"
            if raw is not None:
                if type(raw) is not dict:
                    _malformed(where)
                for org_id, entry in raw.items():
                    _id(org_id, where, _SUPABASE_ORG)
                    orgs[org_id] = self._entry(org_id, entry, where)
        active = next(iter(orgs)) if len(orgs) == 1 else None
        aal = claims.get("aal")
        if aal is not None and aal not in ("aal1", "aal2"):
            _malformed("aal")
        return _principal(user_id, orgs, active, claims, None if aal is None else aal == "aal2")

    @staticmethod
    def _entry(org_id: str, entry: object, where: str) -> OrgMemberInfo:
        if type(entry) is str:
            return _member(org_id, (_role(entry, where),), ())
        if type(entry) is not dict:
            _malformed(where)
        role = _role(entry.get("role"), f"{where}.role")
        raw = entry.get("permissions")
        permissions = () if raw is None else _strings(raw, f"{where}.permissions")
        return _member(org_id, (role,), permissions)
