"""Claim adapters for Auth0, Clerk, Keycloak and Supabase Auth, on their documented shapes.

Each fixture is the provider's documented access-token payload (ids and values
as in their docs' examples); each is signed and verified through `TokenVerifier`
(positive), then broken one claim at a time (negative: 401 naming the claim).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tenantkit.authz import (
    require_org_member,
    require_org_member_with_exact_role,
    require_org_member_with_permission,
)
from tenantkit.errors import Forbidden, Unauthorized
from tenantkit.tokens import (
    Auth0Claims,
    ClaimsAdapter,
    ClerkClaims,
    KeycloakClaims,
    SupabaseClaims,
    TokenIssuer,
    TokenVerifier,
)

pytestmark = pytest.mark.nodb

NOW = int(time.time())
ISS = "https://issuer.example.test/"

AUTH0_USER = "auth0|64b7c0e7a1b2c3d4e5f60718"
AUTH0_ORG = "org_9ybsU1dN2dKfDkBi"
# Auth0 access token with Organizations and RBAC ("Add Permissions in the Access Token").
AUTH0 = {
    "iss": ISS, "sub": AUTH0_USER, "aud": ["https://api.example.com"],
    "iat": NOW, "exp": NOW + 300, "scope": "openid profile",
    "org_id": AUTH0_ORG, "org_name": "acme",
    "permissions": ["read:notes", "delete:notes"],
    "https://example.com/roles": ["admin", "billing"],
}

CLERK_USER = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC"
CLERK_ORG = "org_2ZVuA9kTsu6Z4Ahm1LNQyT1Zf2t"
# Clerk session token v2: the `o` claim (id, rol, slg, per, fpm, fea).
CLERK_V2 = {
    "iss": ISS, "sub": CLERK_USER, "iat": NOW, "exp": NOW + 60, "v": 2, "sid": "sess_123",
    "azp": "https://app.example.com",
    "fea": "o:reports,o:billing,u:profile",
    "o": {"id": CLERK_ORG, "rol": "admin", "slg": "acme", "per": "read,manage",
          "fpm": "3,1", "fea": "o:reports,o:billing"},
}
# Clerk session token v1: flat org claims.
CLERK_V1 = {
    "iss": ISS, "sub": CLERK_USER, "iat": NOW, "exp": NOW + 60, "sid": "sess_123",
    "org_id": CLERK_ORG, "org_role": "org:member", "org_slug": "acme",
    "org_permissions": ["org:reports:read"],
}

KEYCLOAK_USER = "a4fc6f39-0d84-4c6a-9d1c-3c0e1f0f9b6e"
KEYCLOAK_ORG = "42c3e46f-1e7c-4c3e-9f4b-7a1a3c5d2e10"
# Keycloak 26 with the organization mapper ("Add organization id" on).
KEYCLOAK = {
    "iss": ISS, "sub": KEYCLOAK_USER, "iat": NOW, "exp": NOW + 300, "typ": "Bearer",
    "azp": "notes-app", "realm_access": {"roles": ["default-roles-acme"]},
    "resource_access": {"notes-app": {"roles": ["notes:read"]}},
    "organization": {"acme": {"id": KEYCLOAK_ORG}},
}

SUPABASE_USER = "8c6a4b9e-2d1f-4e3a-9b7c-1a2b3c4d5e6f"
# Supabase Auth access token; the org map lives in app_metadata (server-written).
SUPABASE = {
    "iss": ISS, "sub": SUPABASE_USER, "aud": "authenticated", "iat": NOW, "exp": NOW + 3600,
    "role": "authenticated", "aal": "aal1", "email": "ada@example.com",
    "session_id": "f1e2d3c4-0000-4000-8000-000000000001", "is_anonymous": False,
    "app_metadata": {"provider": "email", "providers": ["email"],
                     "orgs": {"acme": {"role": "admin", "permissions": ["notes:read"]}}},
    "user_metadata": {"name": "Ada"},
}


def verify(issuer: TokenIssuer, adapter: ClaimsAdapter, claims: dict[str, Any]) -> Any:
    # Stamped now: the module's fixtures are built at import, maybe minutes earlier.
    now = int(time.time())
    claims = {**claims, "iat": now, "exp": now + 60}
    audience = claims.get("aud")
    if isinstance(audience, list):
        audience = audience[0]
    verifier = TokenVerifier(issuer=ISS, jwks=issuer.jwks(), claims=adapter, audience=audience)
    return verifier.verify(issuer.sign(claims))


def refused(issuer: TokenIssuer, adapter: ClaimsAdapter, claims: dict[str, Any]) -> str:
    with pytest.raises(Unauthorized) as caught:
        verify(issuer, adapter, claims)
    return caught.value.message


def test_auth0(token_issuer: TokenIssuer) -> None:
    p = verify(token_issuer, Auth0Claims(roles_claim="https://example.com/roles"), AUTH0)
    assert (p.user_id, p.active_org_id) == (AUTH0_USER, AUTH0_ORG)
    org = require_org_member_with_permission(p, AUTH0_ORG, "delete:notes")
    assert org.org_name == "acme" and org.user_is_role("admin") and org.user_is_role("billing")
    plain = verify(token_issuer, Auth0Claims(), AUTH0)
    assert require_org_member(plain, AUTH0_ORG).user_role == "member"
    with pytest.raises(Forbidden):
        require_org_member_with_exact_role(plain, AUTH0_ORG, "admin")
    no_org = verify(token_issuer, Auth0Claims(), {k: v for k, v in AUTH0.items() if k != "org_id"})
    assert no_org.org_id_to_org_member_info == {}


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"sub": "not-a-connection-id"}, "sub"),
        ({"sub": None}, "sub"),
        ({"org_id": "acme"}, "org_id"),
        ({"permissions": "read:notes"}, "permissions"),
        ({"https://example.com/roles": "admin"}, "https://example.com/roles"),
    ],
)
def test_auth0_refuses(token_issuer: TokenIssuer, change: dict[str, Any], claim: str) -> None:
    claims = {**AUTH0, **change}
    if change.get("sub", "") is None:
        del claims["sub"]
    assert claim in refused(token_issuer, Auth0Claims(roles_claim="https://example.com/roles"),
                            claims)


def test_clerk_v2_decodes_feature_permissions(token_issuer: TokenIssuer) -> None:
    p = verify(token_issuer, ClerkClaims(), CLERK_V2)
    org = require_org_member_with_exact_role(p, CLERK_ORG, "org:admin")
    # fpm "3,1": reports gets read+manage (0b11), billing only read (0b01).
    assert set(org.user_permissions) == {
        "org:reports:read", "org:reports:manage", "org:billing:read"
    }
    assert org.url_safe_org_name == "acme" and p.active_org_id == CLERK_ORG


def test_clerk_v1(token_issuer: TokenIssuer) -> None:
    p = verify(token_issuer, ClerkClaims(), CLERK_V1)
    org = require_org_member_with_permission(p, CLERK_ORG, "org:reports:read")
    assert org.user_role == "org:member"
    with pytest.raises(Forbidden):
        require_org_member_with_exact_role(p, CLERK_ORG, "org:admin")


@pytest.mark.parametrize(
    ("claims", "claim"),
    [
        ({**CLERK_V2, "sub": "usr_2NNEqL2nrIRdJ194ndJqAHwEfxC"}, "sub"),
        ({**CLERK_V2, "o": {**CLERK_V2["o"], "id": "org_short"}}, "o.id"),
        ({**CLERK_V2, "o": {**CLERK_V2["o"], "rol": ""}}, "o.rol"),
        ({**CLERK_V2, "o": {**CLERK_V2["o"], "fpm": "3"}}, "o.fpm"),
        ({**CLERK_V2, "o": {**CLERK_V2["o"], "fpm": "7,1"}}, "o.fpm"),  # a bit beyond `per`
        ({**CLERK_V2, "o": "org_2ZVuA9kTsu6Z4Ahm1LNQyT1Zf2t"}, "'o'"),
        ({**CLERK_V1, "org_role": None}, "org_role"),
        ({**CLERK_V1, "org_permissions": "org:reports:read"}, "org_permissions"),
    ],
)
def test_clerk_refuses(token_issuer: TokenIssuer, claims: dict[str, Any], claim: str) -> None:
    assert claim in refused(token_issuer, ClerkClaims(), claims)


def test_keycloak(token_issuer: TokenIssuer) -> None:
    p = verify(token_issuer, KeycloakClaims(client_id="notes-app"), KEYCLOAK)
    org = require_org_member_with_permission(p, KEYCLOAK_ORG, "notes:read")
    assert org.url_safe_org_name == "acme" and p.active_org_id == KEYCLOAK_ORG
    aliases = verify(token_issuer, KeycloakClaims(),
                     {**KEYCLOAK, "organization": ["acme", "globex"]})
    assert set(aliases.org_id_to_org_member_info) == {"acme", "globex"}
    assert aliases.active_org_id is None  # two orgs: the request must name one
    assert require_org_member(aliases, "globex").user_permissions == ()


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"sub": "not-a-uuid"}, "sub"),
        ({"organization": "acme"}, "organization"),
        ({"organization": {"acme": {"id": "42"}}}, "organization.id"),
        ({"organization": ["acme", "acme"]}, "organization"),
        ({"organization": [" spaced"]}, "organization"),
        ({"resource_access": {"notes-app": {"roles": "notes:read"}}}, "resource_access"),
    ],
)
def test_keycloak_refuses(token_issuer: TokenIssuer, change: dict[str, Any], claim: str) -> None:
    assert claim in refused(token_issuer, KeycloakClaims(client_id="notes-app"),
                            {**KEYCLOAK, **change})


def test_supabase(token_issuer: TokenIssuer) -> None:
    p = verify(token_issuer, SupabaseClaims(), SUPABASE)
    org = require_org_member_with_exact_role(p, "acme", "admin")
    assert org.user_permissions == ("notes:read",)
    assert p.email == "ada@example.com" and p.active_org_id == "acme"
    metadata = {**SUPABASE["app_metadata"], "orgs": {"acme": "member", "globex": "admin"}}
    two = verify(token_issuer, SupabaseClaims(), {**SUPABASE, "app_metadata": metadata})
    assert require_org_member(two, "globex").user_role == "admin"
    assert two.active_org_id is None
    # user_metadata is the user's own to write: an org map there grants nothing.
    forged = {**SUPABASE, "app_metadata": {"provider": "email"},
              "user_metadata": {"orgs": {"acme": "admin"}}}
    with pytest.raises(Forbidden):
        require_org_member(verify(token_issuer, SupabaseClaims(), forged), "acme")


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"role": "anon"}, "role"),
        ({"role": None}, "role"),
        ({"sub": "ada"}, "sub"),
        ({"app_metadata": ["orgs"]}, "app_metadata"),
        ({"app_metadata": {"orgs": {"acme": 1}}}, "app_metadata.orgs"),
        ({"app_metadata": {"orgs": {"acme": {"permissions": []}}}}, "app_metadata.orgs.role"),
    ],
)
def test_supabase_refuses(token_issuer: TokenIssuer, change: dict[str, Any], claim: str) -> None:
    claims = {**SUPABASE, **change}
    if change.get("role", "") is None:
        del claims["role"]
    assert claim in refused(token_issuer, SupabaseClaims(), claims)


def test_adding_a_provider_is_one_class(token_issuer: TokenIssuer) -> None:
    # The ClaimsAdapter protocol is the whole contract.
    from tenantkit.tokens import OrgMemberInfo, Principal

    class Tiny:
        def to_principal(self, claims: dict[str, Any]) -> Principal:
            org = claims["tenant"]
            return Principal(claims["sub"], {org: OrgMemberInfo(org, "member")}, org)

    p = verify(token_issuer, Tiny(), {"iss": ISS, "sub": "u1", "tenant": "t1",
                                     "iat": NOW, "exp": NOW + 60})
    assert require_org_member(p, "t1").user_role == "member"
