"""Registered claims: exp, iat, nbf (with leeway edges), lifetime, iss and aud."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tenantkit.errors import Unauthorized
from tenantkit.tokens import TokenVerifier

from ._helpers import ISSUER, NOW, USER, FakeClock, forge, propelauth_claims

pytestmark = pytest.mark.nodb

RS256 = {"alg": "RS256"}
LEEWAY = 60


def check(verifier: TokenVerifier, key: rsa.RSAPrivateKey, **claims: Any) -> str | None:
    """None if the token with these claim overrides verifies, else the refusal message."""
    try:
        verifier.verify(forge(RS256, propelauth_claims(**claims), key))
    except Unauthorized as exc:
        return exc.message
    return None


def without(name: str) -> dict[str, Any]:
    claims = propelauth_claims()
    del claims[name]
    return claims


# --- exp and iat: present, integers ------------------------------------------------------


def test_missing_exp_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(Unauthorized, match="'exp' is missing or not an integer"):
        verifier.verify(forge(RS256, without("exp"), rsa_key))


def test_missing_iat_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(Unauthorized, match="'iat' is missing or not an integer"):
        verifier.verify(forge(RS256, without("iat"), rsa_key))


def test_exp_as_a_numeric_string_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    # PyJWT would accept this: it parses exp with int().
    message = check(verifier, rsa_key, exp=str(NOW + 600))
    assert message == "token claim 'exp' is missing or not an integer"


def test_exp_as_a_float_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(verifier, rsa_key, exp=float(NOW + 600)) == (
        "token claim 'exp' is missing or not an integer"
    )


def test_exp_as_a_huge_float_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, exp=1e20) == "token claim 'exp' is missing or not an integer"


def test_exp_true_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(verifier, rsa_key, exp=True) == "token claim 'exp' is missing or not an integer"


@pytest.mark.parametrize("iat", [str(NOW), float(NOW), True, None])
def test_iat_that_is_not_an_integer_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, iat: object
) -> None:
    assert check(verifier, rsa_key, iat=iat) == "token claim 'iat' is missing or not an integer"


@pytest.mark.parametrize("nbf", [str(NOW), float(NOW), False, None])
def test_nbf_that_is_not_an_integer_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, nbf: object
) -> None:
    assert check(verifier, rsa_key, nbf=nbf) == "token claim 'nbf' is not an integer"


# --- time windows and leeway -------------------------------------------------------------


def test_an_expired_token_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(verifier, rsa_key, iat=NOW - 3600, exp=NOW - 1800) == "token has expired"


def test_exp_inside_the_leeway_is_accepted(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, iat=NOW - 600, exp=NOW - LEEWAY + 1) is None


def test_exp_at_the_leeway_edge_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, iat=NOW - 600, exp=NOW - LEEWAY) == "token has expired"


def test_iat_in_the_future_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(verifier, rsa_key, iat=NOW + 3600, exp=NOW + 4000) == "token is not valid yet"


def test_iat_at_the_leeway_edge_is_accepted(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, iat=NOW + LEEWAY, exp=NOW + 600) is None


def test_iat_just_past_the_leeway_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    message = check(verifier, rsa_key, iat=NOW + LEEWAY + 1, exp=NOW + 600)
    assert message == "token is not valid yet"


def test_nbf_in_the_future_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(verifier, rsa_key, nbf=NOW + 300) == "token is not valid yet"


def test_nbf_at_the_leeway_edge_is_accepted(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, nbf=NOW + LEEWAY) is None


def test_nbf_just_past_the_leeway_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, nbf=NOW + LEEWAY + 1) == "token is not valid yet"


def test_leeway_is_configurable(rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes) -> None:
    strict = TokenVerifier(
        issuer=ISSUER, public_key_pem=rsa_public_pem, leeway=0, clock=FakeClock(), cache_size=0
    )
    assert check(strict, rsa_key, iat=NOW - 600, exp=NOW + 1) is None
    assert check(strict, rsa_key, iat=NOW - 600, exp=NOW) == "token has expired"
    assert check(strict, rsa_key, iat=NOW + 1, exp=NOW + 600) == "token is not valid yet"


def test_time_moves_a_token_out_of_its_window(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = forge(RS256, propelauth_claims(exp=NOW + 600), rsa_key)
    assert verifier.verify(token).user_id == USER
    clock.now = NOW + 600 + LEEWAY
    with pytest.raises(Unauthorized, match="token has expired"):
        verifier.verify(token)


# --- lifetime ----------------------------------------------------------------------------


def test_a_lifetime_over_the_maximum_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    message = check(verifier, rsa_key, iat=NOW, exp=NOW + 24 * 3600 + 1)
    assert message == "token lifetime is out of range"


def test_a_lifetime_at_the_maximum_is_accepted(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(verifier, rsa_key, iat=NOW, exp=NOW + 24 * 3600) is None


@pytest.mark.parametrize("exp", [NOW, NOW - 1])
def test_exp_not_after_iat_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, exp: int
) -> None:
    assert check(verifier, rsa_key, iat=NOW, exp=exp) == "token lifetime is out of range"


def test_max_lifetime_is_configurable(rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes) -> None:
    short = TokenVerifier(
        issuer=ISSUER, public_key_pem=rsa_public_pem, max_lifetime=300, clock=FakeClock()
    )
    assert check(short, rsa_key, exp=NOW + 300) is None
    assert check(short, rsa_key, exp=NOW + 301) == "token lifetime is out of range"


# --- issuer ------------------------------------------------------------------------------


def test_missing_iss_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(Unauthorized, match="'iss' is missing"):
        verifier.verify(forge(RS256, without("iss"), rsa_key))


def test_a_wrong_iss_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(verifier, rsa_key, iss="https://evil.example") == "token issuer is not accepted"


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + ".evil.example",
        ISSUER + "/",
        ISSUER + "/../evil",
        ISSUER + "@evil.example",
        ISSUER[:-1],
        "https://auth.example",
        "http://auth.example.com",
        "HTTPS://auth.example.com",
        " " + ISSUER,
        ISSUER + "\x00",
        "",
        [ISSUER],
        {"iss": ISSUER},
    ],
)
def test_iss_prefix_and_lookalike_tricks_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, iss: object
) -> None:
    assert check(verifier, rsa_key, iss=iss) == "token issuer is not accepted"


def test_a_substring_of_a_configured_issuer_is_refused(
    rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes
) -> None:
    # A str issuer must be matched exactly, never with `in` on the string.
    verifier = TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, clock=FakeClock())
    assert check(verifier, rsa_key, iss="auth.example") == "token issuer is not accepted"


def test_several_issuers_may_be_configured(
    rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes
) -> None:
    issuers = ["https://api.workos.com", "https://api.workos.com/user_management/client_1"]
    verifier = TokenVerifier(
        issuer=issuers, public_key_pem=rsa_public_pem, clock=FakeClock(), cache_size=0
    )
    for iss in issuers:
        assert check(verifier, rsa_key, iss=iss) is None
    assert check(verifier, rsa_key, iss="https://api.workos.com/user_management") is not None


# --- audience ----------------------------------------------------------------------------


@pytest.fixture
def aud_verifier(rsa_public_pem: bytes) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER,
        public_key_pem=rsa_public_pem,
        audience="client_1",
        clock=FakeClock(),
        cache_size=0,
    )


def test_the_configured_aud_is_accepted(
    aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(aud_verifier, rsa_key, aud="client_1") is None


def test_a_wrong_aud_is_refused(aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(aud_verifier, rsa_key, aud="client_2") == "token audience is not accepted"


def test_a_missing_aud_is_refused_when_one_is_configured(
    aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(Unauthorized, match="'aud' is missing"):
        aud_verifier.verify(forge(RS256, propelauth_claims(), rsa_key))


def test_an_aud_list_naming_the_audience_is_accepted(
    aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(aud_verifier, rsa_key, aud=["other", "client_1"]) is None


def test_an_aud_list_without_the_audience_is_refused(
    aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert check(aud_verifier, rsa_key, aud=["other", "client_2"]) == (
        "token audience is not accepted"
    )


@pytest.mark.parametrize("aud", [[], ["client_1", 7], [["client_1"]], 7, {"client_1": True}])
def test_a_malformed_aud_is_refused(
    aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, aud: object
) -> None:
    assert check(aud_verifier, rsa_key, aud=aud) == "token claim 'aud' is malformed"


def test_an_aud_prefix_is_refused(aud_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert check(aud_verifier, rsa_key, aud="client_") == "token audience is not accepted"


def test_a_token_with_aud_is_refused_when_none_is_configured(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    message = check(verifier, rsa_key, aud="some-other-service")
    assert message == "token has an audience but none is configured"


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"public_key_pem": "PEM", "jwks_url": "https://example.com/jwks"},
    ],
)
def test_exactly_one_key_source_is_required(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        TokenVerifier(issuer=ISSUER, **options)


@pytest.mark.parametrize("issuer", ["", [], [""]])
def test_an_empty_issuer_is_refused(rsa_public_pem: bytes, issuer: Any) -> None:
    with pytest.raises(ValueError, match="issuer"):
        TokenVerifier(issuer=issuer, public_key_pem=rsa_public_pem)


def test_for_propelauth_derives_the_issuer_like_propelauth_py(
    rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes
) -> None:
    verifier = TokenVerifier.for_propelauth(
        "http://auth.example.com:3000", rsa_public_pem.decode(), clock=FakeClock()
    )
    assert check(verifier, rsa_key, iss="https://auth.example.com:3000") is None
    assert check(verifier, rsa_key, iss="http://auth.example.com:3000") is not None
