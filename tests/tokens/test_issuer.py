"""TokenIssuer → TokenVerifier round trips, for PropelAuth's and WorkOS's claim shapes."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tenantkit.authz import require_org_member_with_minimum_role
from tenantkit.errors import Forbidden, Unauthorized
from tenantkit.tokens import LoginMethod, OrgMemberInfo, TokenIssuer, TokenVerifier, WorkOSClaims
from tenantkit.tokens.issuer import DEFAULT_LIFETIME

from ._helpers import ISSUER, NOW, ORG, OTHER_ORG, USER, FakeClock

pytestmark = pytest.mark.nodb

ADMIN = OrgMemberInfo(
    org_id=ORG,
    user_role="Admin",
    inherited_user_roles_plus_current_role=("Admin", "Member"),
    user_permissions=("read", "write"),
    org_name="Acme Inc",
    url_safe_org_name="acme-inc",
    org_metadata={"tier": "enterprise"},
)
MEMBER = OrgMemberInfo(org_id=OTHER_ORG, user_role="Member", legacy_org_id="legacy-2")


@pytest.fixture
def issuer(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(rsa_key, issuer=ISSUER, clock=clock)


@pytest.fixture
def verifier(issuer: TokenIssuer, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier.for_issuer(issuer, clock=clock)


def test_propelauth_round_trip_with_all_orgs(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue(
        user_id=USER,
        email="ada@example.com",
        first_name="Ada",
        properties={"plan": "pro"},
        orgs=[ADMIN, MEMBER],
        login_method=LoginMethod("saml_sso", "Okta", ORG),
    )
    principal = verifier.verify(token)
    assert principal.user_id == USER
    assert principal.email == "ada@example.com"
    assert principal.first_name == "Ada"
    assert principal.properties == {"plan": "pro"}
    assert principal.login_method == LoginMethod("saml_sso", "Okta", ORG)
    assert principal.active_org_id is None
    assert principal.get_org(ORG) == ADMIN
    assert principal.get_org(OTHER_ORG) == MEMBER
    assert principal.claims["exp"] - principal.claims["iat"] == DEFAULT_LIFETIME


def test_propelauth_round_trip_with_an_active_org(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.issue(user_id=USER, orgs=[ADMIN, MEMBER], active_org_id=OTHER_ORG)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert "org_member_info" in payload
    assert "org_id_to_org_member_info" not in payload
    principal = verifier.verify(token)
    assert principal.active_org_id == OTHER_ORG
    assert principal.get_orgs() == [MEMBER]
    # The other org is not in an active-org token, so it is not reachable with it.
    with pytest.raises(Forbidden):
        require_org_member_with_minimum_role(principal, ORG, "Member")


def test_the_token_is_rs256_with_the_issuer_kid(issuer: TokenIssuer) -> None:
    header = jwt.get_unverified_header(issuer.issue(user_id=USER))
    assert header["alg"] == "RS256"
    assert header["kid"] == issuer.kid


def test_lifetime_and_clock(issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock) -> None:
    token = issuer.issue(user_id=USER, lifetime=120)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["iat"], payload["exp"], payload["iss"]) == (NOW, NOW + 120, ISSUER)
    assert verifier.verify(token).user_id == USER
    clock.now = NOW + 120 + 60
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


def test_the_public_pem_verifies(issuer: TokenIssuer, clock: FakeClock) -> None:
    verifier = TokenVerifier(issuer=ISSUER, public_key_pem=issuer.public_key_pem, clock=clock)
    assert verifier.verify(issuer.issue(user_id=USER, orgs=[ADMIN])).get_org(ORG) == ADMIN


def test_the_jwks_is_public_and_names_the_kid(issuer: TokenIssuer) -> None:
    (key,) = issuer.jwks()["keys"]
    assert key["kid"] == issuer.kid
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key
    assert "PRIVATE" not in json.dumps(issuer.jwks())
    assert "PRIVATE" not in issuer.public_key_pem


def test_the_kid_is_a_stable_thumbprint(issuer: TokenIssuer) -> None:
    again = TokenIssuer.from_pem(issuer.private_key_pem, issuer=ISSUER)
    assert again.kid == issuer.kid
    assert TokenIssuer.generate().kid != issuer.kid


def test_from_pem_round_trip(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock
) -> None:
    again = TokenIssuer.from_pem(issuer.private_key_pem.encode(), issuer=ISSUER, clock=clock)
    assert verifier.verify(again.issue(user_id=USER)).user_id == USER


@pytest.mark.parametrize("pem", ["not a pem", ""])
def test_from_pem_refuses_garbage(pem: str) -> None:
    with pytest.raises(ValueError, match="not a PEM private key"):
        TokenIssuer.from_pem(pem)


def test_from_pem_refuses_a_non_rsa_key() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="not an RSA key"):
        TokenIssuer.from_pem(pem)


def test_an_audience_round_trips(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, audience="api", clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock)
    assert verifier.verify(issuer.issue(user_id=USER)).claims["aud"] == "api"
    other = TokenIssuer(rsa_key, issuer=ISSUER, audience="other", clock=clock)
    with pytest.raises(Unauthorized, match="audience"):
        verifier.verify(other.issue(user_id=USER))


def test_active_org_must_be_one_of_the_orgs(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="active_org_id"):
        issuer.issue(user_id=USER, orgs=[ADMIN], active_org_id=OTHER_ORG)


def test_an_org_listed_twice_is_refused(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="twice"):
        issuer.issue(user_id=USER, orgs=[ADMIN, ADMIN])


@pytest.mark.parametrize("lifetime", [0, -5])
def test_a_non_positive_lifetime_is_refused(issuer: TokenIssuer, lifetime: int) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        issuer.issue(user_id=USER, lifetime=lifetime)


def test_sign_refuses_to_change_the_algorithm(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="RS256"):
        issuer.sign({"user_id": USER}, headers={"alg": "HS256"})


def test_another_issuers_token_is_refused(verifier: TokenVerifier, clock: FakeClock) -> None:
    stranger = TokenIssuer.generate(issuer=ISSUER, clock=clock)
    with pytest.raises(Unauthorized, match="key id is unknown"):
        verifier.verify(stranger.issue(user_id=USER))


# --- WorkOS shape --------------------------------------------------------------------------

WORKOS_USER = "user_01HBEQKA6K4QJAS93VPE39W1JT"
WORKOS_ORG = "org_01HRDMC6CM357W30QMHMQ96Q0S"


def workos_token(issuer: TokenIssuer, role: str, roles: list[str]) -> str:
    return issuer.sign(
        {
            "iss": "https://api.workos.com/user_management/client_123",
            "sub": WORKOS_USER,
            "sid": "session_01HQSXZGF8FHF7A9ZZFCW4387R",
            "org_id": WORKOS_ORG,
            "role": role,
            "roles": roles,
            "permissions": ["posts:read"],
            "iat": NOW,
            "exp": NOW + 300,
        }
    )


def test_workos_round_trip_with_a_configured_hierarchy(
    issuer: TokenIssuer, clock: FakeClock
) -> None:
    verifier = TokenVerifier(
        issuer=["https://api.workos.com", "https://api.workos.com/user_management/client_123"],
        jwks=issuer.jwks(),
        claims=WorkOSClaims(role_hierarchy=["owner", "admin", "member"]),
        clock=clock,
    )
    principal = verifier.verify(workos_token(issuer, "admin", ["admin"]))
    assert principal.user_id == WORKOS_USER
    assert principal.active_org_id == WORKOS_ORG
    assert principal.claims["sid"] == "session_01HQSXZGF8FHF7A9ZZFCW4387R"
    org = require_org_member_with_minimum_role(principal, WORKOS_ORG, "member")
    assert org.user_permissions == ("posts:read",)
    with pytest.raises(Forbidden):
        require_org_member_with_minimum_role(principal, WORKOS_ORG, "owner")


def test_workos_tokens_need_the_workos_adapter(issuer: TokenIssuer, clock: FakeClock) -> None:
    verifier = TokenVerifier(
        issuer="https://api.workos.com/user_management/client_123", jwks=issuer.jwks(), clock=clock
    )
    with pytest.raises(Unauthorized, match="'user_id' is missing"):
        verifier.verify(workos_token(issuer, "admin", ["admin"]))


def test_testing_fixtures_work_together(
    token_issuer: TokenIssuer, token_verifier: TokenVerifier
) -> None:
    token = token_issuer.issue(user_id=USER, orgs=[ADMIN])
    assert token_verifier.verify(token).get_org(ORG) == ADMIN
