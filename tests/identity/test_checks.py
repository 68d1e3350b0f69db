"""PropelAuth's remaining token fields and WorkOS's any-of-roles check, in checks and
`Requirement`s: require_2fa_by per org, multi-role orgs, "any of these roles".
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tenantkit import current_context
from tenantkit.authz import (
    require_org_member_with_any_role,
    require_org_member_with_exact_role,
    require_org_member_with_minimum_role,
    require_org_member_with_two_factor,
)
from tenantkit.context import UUID_PATTERN
from tenantkit.errors import Forbidden
from tenantkit.tokens import (
    PropelAuthClaims,
    SupabaseClaims,
    TokenIssuer,
    TokenVerifier,
    WorkOSClaims,
)
from tenantkit.web import Requirement, TenantMiddleware, active_org
from tests.identity._support import WORKOS_ISSUER, workos_token

pytestmark = pytest.mark.nodb

USER, ORG = str(uuid.uuid4()), str(uuid.uuid4())


def propelauth(issuer: TokenIssuer, org: dict[str, Any], **top: Any) -> Any:
    entry = {
        "org_id": ORG, "org_name": "Acme", "url_safe_org_name": "acme", "org_metadata": {},
        "user_role": "Admin", "inherited_user_roles_plus_current_role": ["Admin", "Member"],
        "user_permissions": [], **org,
    }
    now = int(time.time())
    claims = {"iss": issuer.issuer, "user_id": USER, "iat": now,
              "exp": now + 300, "org_id_to_org_member_info": {ORG: entry}, **top}
    if issuer.audience is not None:
        claims["aud"] = issuer.audience
    return TokenVerifier.for_issuer(issuer, claims=PropelAuthClaims()).verify(issuer.sign(claims))


def test_require_2fa_by(token_issuer: TokenIssuer) -> None:
    now = int(time.time())
    past, future = now - 10, now + 3600
    without = propelauth(token_issuer, {"require_2fa_by": past}, mfa_enabled=False)
    with pytest.raises(Forbidden, match="two-factor"):
        require_org_member_with_two_factor(without, ORG)
    unknown = propelauth(token_issuer, {"require_2fa_by": past})
    with pytest.raises(Forbidden, match="two-factor"):
        require_org_member_with_two_factor(unknown, ORG)  # unknown is "no"
    assert require_org_member_with_two_factor(
        propelauth(token_issuer, {"require_2fa_by": past}, mfa_enabled=True), ORG
    )
    assert require_org_member_with_two_factor(
        propelauth(token_issuer, {"require_2fa_by": future}, mfa_enabled=False), ORG
    )
    assert require_org_member_with_two_factor(propelauth(token_issuer, {}), ORG)
    assert require_org_member_with_two_factor(without, ORG, now=past - 1)
    with pytest.raises(Exception, match="require_2fa_by"):
        propelauth(token_issuer, {"require_2fa_by": "2026-01-01"})
    with pytest.raises(Exception, match="mfa_enabled"):
        propelauth(token_issuer, {}, mfa_enabled="yes")


def test_multi_role_orgs(token_issuer: TokenIssuer) -> None:
    p = propelauth(token_issuer, {
        "org_role_structure": "multi_role", "user_role": "Billing",
        "additional_roles": ["Support"], "inherited_user_roles_plus_current_role": ["Billing"],
    })
    org = p.get_org(ORG)
    assert org.org_role_structure == "multi_role" and org.additional_roles == ("Support",)
    require_org_member_with_exact_role(p, ORG, "Support")
    require_org_member_with_any_role(p, ORG, ["Owner", "Support"])
    with pytest.raises(Forbidden):
        require_org_member_with_minimum_role(p, ORG, "Admin")  # no ranking in multi-role
    with pytest.raises(Forbidden):
        require_org_member_with_any_role(p, ORG, ["Owner", "Admin"])
    with pytest.raises(ValueError, match="roles"):
        require_org_member_with_any_role(p, ORG, [])
    with pytest.raises(TypeError, match="roles"):
        require_org_member_with_any_role(p, ORG, "Support")


def test_supabase_aal2_counts_as_mfa(token_issuer: TokenIssuer) -> None:
    verifier = TokenVerifier(issuer="https://sb.test", jwks=token_issuer.jwks(),
                             claims=SupabaseClaims(), audience="authenticated")
    now = int(time.time())
    base = {"iss": "https://sb.test", "aud": "authenticated", "iat": now, "exp": now + 60,
            "sub": USER, "role": "authenticated"}
    assert verifier.verify(token_issuer.sign({**base, "aal": "aal2"})).mfa_enabled is True
    assert verifier.verify(token_issuer.sign({**base, "aal": "aal1"})).mfa_enabled is False


async def test_workos_any_of_roles_through_the_middleware(token_issuer: TokenIssuer) -> None:
    # WorkOS-shaped claims with UUID ids, so this needs no database (the identity
    # seam's own tests map real WorkOS ids).
    verifier = TokenVerifier(issuer=WORKOS_ISSUER, jwks=token_issuer.jwks(),
                             claims=WorkOSClaims(id_pattern=UUID_PATTERN))

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        ctx = current_context()
        await send({"type": "http.response.body", "body": (ctx.org_id if ctx else "").encode()})

    app = TenantMiddleware(inner, verifier=verifier, org_id=active_org(),
                           require=Requirement.any_role(["admin", "billing"]))
    user, org = USER, ORG
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        member = workos_token(token_issuer, user, org, role="member")
        refused = await client.get("/", headers={"Authorization": f"Bearer {member}"})
        assert refused.status_code == 403
        billing = workos_token(token_issuer, user, org, role="billing")
        allowed = await client.get("/", headers={"Authorization": f"Bearer {billing}"})
        assert (allowed.status_code, allowed.text) == (200, ORG)
    assert repr(Requirement.any_role(["a", "b"])) == "Requirement.any_role(['a', 'b'])"
