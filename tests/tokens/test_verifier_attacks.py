"""Forged and malformed tokens: each attack from issue 4 is refused with a stable reason."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tenantkit.errors import Unauthorized
from tenantkit.tokens import KeySet, TokenIssuer, TokenVerifier, VerifiedTokenCache

from ._helpers import (
    ISSUER,
    NOW,
    ORG,
    USER,
    FakeClock,
    b64,
    forge,
    org_entry,
    propelauth_claims,
)

pytestmark = pytest.mark.nodb

RS256 = {"alg": "RS256", "typ": "JWT"}


def refused(verifier: TokenVerifier, token: str | bytes, message: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    assert caught.value.message == message
    assert caught.value.status_code == 401
    if isinstance(token, str) and len(token) > 20:
        assert token not in str(caught.value)
    return caught.value


def refused_any(verifier: TokenVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    return caught.value


def hs256(secret: bytes, payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """An HMAC-SHA256 token made with the stdlib only, as an attacker would."""
    header_part = b64(json.dumps(header or {"alg": "HS256"}).encode())
    signing_input = f"{header_part}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_a_valid_token_is_accepted(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    principal = verifier.verify(forge(RS256, propelauth_claims(), rsa_key))
    assert principal.user_id == USER
    assert principal.get_org(ORG) is not None


# --- alg: none and algorithm confusion -----------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(verifier: TokenVerifier, alg: str) -> None:
    token = forge({"alg": alg}, propelauth_claims(), signature=b"")
    refused(verifier, token, "token algorithm is not allowed")


def test_alg_none_with_a_signature_is_refused(verifier: TokenVerifier) -> None:
    token = forge({"alg": "none"}, propelauth_claims(), signature=b"anything")
    refused(verifier, token, "token algorithm is not allowed")


def test_missing_alg_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    refused(
        verifier,
        forge({"typ": "JWT"}, propelauth_claims(), rsa_key),
        "token algorithm is not allowed",
    )


def test_alg_none_cannot_be_configured(rsa_public_pem: bytes) -> None:
    with pytest.raises(ValueError, match="unsupported algorithms"):
        TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, algorithms=["RS256", "none"])


def test_hs256_signed_with_the_rsa_pem_is_refused(
    verifier: TokenVerifier, rsa_public_pem: bytes
) -> None:
    refused(verifier, hs256(rsa_public_pem, propelauth_claims()), "token algorithm is not allowed")


def test_hs256_signed_with_an_ssh_ed25519_key_is_refused(clock: FakeClock) -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert ssh.startswith(b"ssh-ed25519 ")
    verifier = TokenVerifier(
        issuer=ISSUER, public_key_pem=pem, algorithms=["EdDSA"], clock=clock, cache_size=0
    )
    refused(verifier, hs256(ssh, propelauth_claims()), "token algorithm is not allowed")


def test_hs256_signed_with_the_public_jwk_is_refused(
    rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock, cache_size=0)
    jwk = issuer.jwks()["keys"][0]
    token = hs256(
        json.dumps(jwk).encode(), propelauth_claims(), {"alg": "HS256", "kid": issuer.kid}
    )
    refused(verifier, token, "token algorithm is not allowed")


@pytest.mark.parametrize("algorithms", [["RS256", "HS256"], ["HS256", "ES256"], ["hs512", "EdDSA"]])
def test_mixing_hmac_with_asymmetric_algorithms_is_refused(
    rsa_public_pem: bytes, algorithms: list[str]
) -> None:
    with pytest.raises(ValueError, match="mixing symmetric"):
        TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, algorithms=algorithms)


def test_hmac_alone_is_refused(rsa_public_pem: bytes) -> None:
    with pytest.raises(ValueError, match="not supported"):
        TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, algorithms=["HS256"])


def test_an_allowed_alg_that_does_not_fit_the_key_is_refused(
    rsa_public_pem: bytes, clock: FakeClock
) -> None:
    verifier = TokenVerifier(
        issuer=ISSUER,
        public_key_pem=rsa_public_pem,
        algorithms=["RS256", "ES256"],
        clock=clock,
        cache_size=0,
    )
    token = forge(
        {"alg": "ES256"}, propelauth_claims(), ec.generate_private_key(ec.SECP256R1()), alg="ES256"
    )
    refused(verifier, token, "token algorithm does not match its key")


def test_a_key_no_configured_algorithm_can_use_is_refused_at_startup(
    rsa_public_pem: bytes,
) -> None:
    with pytest.raises(ValueError, match="cannot verify"):
        TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, algorithms=["ES256"])


# --- signatures and keys -------------------------------------------------------------------


def _public_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("alg", "make_key"),
    [
        ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate),
    ],
)
def test_es256_and_eddsa_tokens_verify_when_allowed(alg: str, make_key: Any) -> None:
    private = make_key()
    token = forge({"alg": alg}, propelauth_claims(), private, alg=alg)
    allowed = TokenVerifier(
        issuer=ISSUER, public_key_pem=_public_pem(private), algorithms=[alg], clock=FakeClock()
    )
    assert allowed.verify(token).user_id == USER
    jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(private.public_key()))
    by_jwk = TokenVerifier(
        issuer=ISSUER,
        jwks={"keys": [{**jwk, "kid": "k"}]},
        algorithms=["RS256", alg],
        clock=FakeClock(),
    )
    assert by_jwk.verify(forge({"alg": alg, "kid": "k"}, propelauth_claims(), private, alg=alg))


def test_an_ec_key_off_p256_is_refused() -> None:
    with pytest.raises(ValueError, match="P-256"):
        TokenVerifier(
            issuer=ISSUER,
            public_key_pem=_public_pem(ec.generate_private_key(ec.SECP384R1())),
            algorithms=["ES256"],
        )


def test_a_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(verifier, forge(RS256, propelauth_claims(), other), "token signature is invalid")


def test_a_swapped_payload_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    header, _, signature = forge(RS256, propelauth_claims(), rsa_key).split(".")
    evil = b64(
        json.dumps(propelauth_claims(user_id="8f14e45f-ceea-467f-a0e6-3bd1b4c7a2d9")).encode()
    )
    refused(verifier, f"{header}.{evil}.{signature}", "token signature is invalid")


def test_a_stripped_signature_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = forge(RS256, propelauth_claims(), rsa_key)
    refused(verifier, token[: token.rindex(".") + 1], "token signature is invalid")


def test_an_unknown_kid_is_refused(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, kid="key-1", clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock, cache_size=0)
    assert verifier.verify(issuer.sign(propelauth_claims()))
    token = forge({"alg": "RS256", "kid": "key-2"}, propelauth_claims(), rsa_key)
    refused(verifier, token, "token key id is unknown")


def test_a_kid_like_a_path_is_refused(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, kid="key-1", clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock, cache_size=0)
    token = forge({"alg": "RS256", "kid": "../../key-1"}, propelauth_claims(), rsa_key)
    refused(verifier, token, "token key id is unknown")


def test_a_missing_kid_is_refused_by_a_key_set(
    rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock, cache_size=0)
    refused(verifier, forge(RS256, propelauth_claims(), rsa_key), "token has no key id")


def test_a_non_string_kid_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = forge({"alg": "RS256", "kid": ["key-1"]}, propelauth_claims(), rsa_key)
    refused(verifier, token, "token is malformed")


def _attacker_headers(name: str, attacker: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = TokenIssuer(attacker).jwks()["keys"][0]
    value = {
        "jku": "http://127.0.0.1:9/jwks.json",
        "x5u": "http://127.0.0.1:9/cert.pem",
        "jwk": jwk,
    }
    return {"alg": "RS256", "kid": jwk["kid"], name: value[name]}


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk"])
def test_key_urls_and_keys_in_the_header_are_never_used(
    name: str, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, no_network: list[object]
) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock, cache_size=0)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = forge(_attacker_headers(name, attacker), propelauth_claims(), attacker)
    refused(verifier, token, "token key id is unknown")
    assert no_network == []


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk"])
def test_key_headers_on_a_genuine_token_are_ignored(
    name: str, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, no_network: list[object]
) -> None:
    issuer = TokenIssuer(rsa_key, issuer=ISSUER, clock=clock)
    verifier = TokenVerifier.for_issuer(issuer, clock=clock, cache_size=0)
    headers = _attacker_headers(
        name, rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    del headers["alg"], headers["kid"]
    assert verifier.verify(issuer.sign(propelauth_claims(), headers=headers)).user_id == USER
    assert no_network == []


@pytest.fixture(scope="module")
def weak() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose


def test_a_1024_bit_rsa_pem_is_refused(weak: rsa.RSAPrivateKey) -> None:
    pem = weak.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="1024 bits"):
        TokenVerifier(issuer=ISSUER, public_key_pem=pem)


def test_a_1024_bit_rsa_jwk_is_refused(weak: rsa.RSAPrivateKey) -> None:
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True), "kid": "weak"}
    with pytest.raises(ValueError, match="1024 bits"):
        TokenVerifier(issuer=ISSUER, jwks={"keys": [jwk]})


def test_a_1024_bit_rsa_key_cannot_issue(weak: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="2048"):
        TokenIssuer(weak)


def test_a_private_key_pem_is_refused_as_verification_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = TokenIssuer(rsa_key).private_key_pem
    with pytest.raises(ValueError, match="not a PEM public key"):
        TokenVerifier(issuer=ISSUER, public_key_pem=pem)


def test_private_jwk_material_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key)), "kid": "k"}
    with pytest.raises(ValueError, match="private or symmetric"):
        KeySet.from_jwks({"keys": [jwk]})


def test_a_symmetric_jwk_is_refused() -> None:
    with pytest.raises(ValueError, match="private or symmetric"):
        KeySet.from_jwks({"keys": [{"kty": "oct", "k": b64(b"secret" * 8), "kid": "k"}]})


# --- header extensions and duplicate keys --------------------------------------------------


def test_an_unknown_crit_header_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = forge({"alg": "RS256", "crit": ["exp-ext"], "exp-ext": 1}, propelauth_claims(), rsa_key)
    refused(verifier, token, "token uses an unsupported critical header")


def test_the_b64_extension_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = forge({"alg": "RS256", "b64": False, "crit": ["b64"]}, propelauth_claims(), rsa_key)
    refused(verifier, token, "token uses an unsupported critical header")


def test_duplicate_keys_in_the_payload_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    body = json.dumps(propelauth_claims())[:-1]
    payload = f'{body}, "user_id": "8f14e45f-ceea-467f-a0e6-3bd1b4c7a2d9"}}'.encode()
    # The standard parser would silently take the second user id.
    assert json.loads(payload)["user_id"] != USER
    refused(verifier, forge(RS256, payload, rsa_key), "token has duplicate JSON keys")


def test_duplicate_keys_in_a_nested_object_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    claims = propelauth_claims()
    entry = json.dumps(claims["org_id_to_org_member_info"][ORG])[:-1] + ', "user_role": "Owner"}'
    payload = json.dumps({**claims, "org_id_to_org_member_info": "X"}).replace(
        '"X"', f'{{"{ORG}": {entry}}}'
    )
    refused(verifier, forge(RS256, payload.encode(), rsa_key), "token has duplicate JSON keys")


def test_duplicate_keys_in_the_header_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    header = b'{"alg": "HS256", "alg": "RS256"}'
    refused(verifier, forge(header, propelauth_claims(), rsa_key), "token has duplicate JSON keys")


# --- shape: garbage, segments, encodings, size ---------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b", "a.b.c.d", "..", "a..c", "e30.e30.e30.e30", "eyJ.eyJ.sig!", "a b.c.d"],
)
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    refused(verifier, token, "token is malformed")


def test_two_segments_are_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = forge(RS256, propelauth_claims(), rsa_key)
    refused(verifier, token[: token.rindex(".")], "token is malformed")


@pytest.mark.parametrize("token", ["", b""])
def test_an_empty_token_is_refused(verifier: TokenVerifier, token: str | bytes) -> None:
    refused(verifier, token, "token is empty")


def test_non_ascii_text_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = forge(RS256, propelauth_claims(), rsa_key)
    refused(verifier, token[:10] + "\u00e9" + token[11:], "token is malformed")


def test_non_utf8_bytes_are_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = forge(RS256, propelauth_claims(), rsa_key).encode()
    refused(verifier, token[:10] + b"\xff" + token[11:], "token is malformed")


def test_a_signed_payload_that_is_not_utf8_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    payload = json.dumps(propelauth_claims()).encode().replace(b"ada@", b"ad\xff@")
    refused(verifier, forge(RS256, payload, rsa_key), "token is malformed")


def test_a_payload_that_is_not_an_object_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    refused(verifier, forge(RS256, b'["user_id"]', rsa_key), "token is malformed")


def test_nan_in_the_payload_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    payload = json.dumps(propelauth_claims()).replace(f'"exp": {NOW + 600}', '"exp": NaN')
    refused(verifier, forge(RS256, payload.encode(), rsa_key), "token is malformed")


def test_deep_nesting_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    payload = json.dumps(propelauth_claims())[:-1] + ', "deep": ' + "[" * 3000 + "]" * 3000 + "}"
    signed = forge(RS256, payload.encode(), rsa_key)
    big = TokenVerifier(
        issuer=ISSUER,
        keys=KeySet.from_pem(
            rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
        max_token_bytes=64 * 1024,
        cache_size=0,
        clock=FakeClock(),
    )
    refused(big, signed, "token is malformed")


def test_non_canonical_base64_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    header, payload, signature = forge(RS256, propelauth_claims(), rsa_key).split(".")
    # 342 characters encode 256 bytes with 4 spare bits; setting one gives the same bytes.
    assert len(signature) % 4 == 2
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = signature[:-1] + last[last.index(signature[-1]) + 1]
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(signature + "==")
    refused(verifier, f"{header}.{payload}.{twin}", "token is malformed")


def test_a_5_mb_token_is_refused_before_any_decoding(
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    rsa_public_pem: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[object] = []
    hashed: list[object] = []
    monkeypatch.setattr(base64, "urlsafe_b64decode", lambda s: decoded.append(s))
    monkeypatch.setattr(VerifiedTokenCache, "key", staticmethod(lambda t: hashed.append(t)))
    cached = TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, clock=FakeClock())
    padding = "A" * (5 * 1024 * 1024)
    huge = forge(RS256, propelauth_claims(padding=padding), rsa_key)
    assert len(huge) > 5_000_000
    for target in (verifier, cached):
        refused(target, huge, "token is too large")
        refused(target, huge.encode(), "token is too large")
    assert decoded == []
    assert hashed == []


def test_the_size_cap_is_configurable(rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes) -> None:
    token = forge(RS256, propelauth_claims(), rsa_key)
    small = TokenVerifier(
        issuer=ISSUER,
        public_key_pem=rsa_public_pem,
        max_token_bytes=len(token) - 1,
        clock=FakeClock(),
    )
    exact = TokenVerifier(
        issuer=ISSUER, public_key_pem=rsa_public_pem, max_token_bytes=len(token), clock=FakeClock()
    )
    refused(small, token, "token is too large")
    assert exact.verify(token).user_id == USER


def test_a_token_that_is_not_str_or_bytes_is_a_type_error(verifier: TokenVerifier) -> None:
    with pytest.raises(TypeError):
        verifier.verify(None)  # type: ignore[arg-type]


# --- org and user ids ----------------------------------------------------------------------

BAD_IDS = [1, "01", [ORG], {"id": ORG}, None, ORG + "\x00", ORG.upper(), f" {ORG}", 1.0, True]
BAD_ID_NAMES = [
    "int",
    "01",
    "list",
    "dict",
    "null",
    "nul-byte",
    "uppercase",
    "space",
    "float",
    "bool",
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=BAD_ID_NAMES)
def test_bad_org_ids_in_the_org_map_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, bad: object
) -> None:
    key = bad if isinstance(bad, str) else ORG
    claims = propelauth_claims(org_id_to_org_member_info={key: org_entry(bad)})
    error = refused_any(verifier, forge(RS256, claims, rsa_key))
    assert "org_id_to_org_member_info.org_id" in error.message


@pytest.mark.parametrize("bad", BAD_IDS, ids=BAD_ID_NAMES)
def test_bad_org_ids_in_the_active_org_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, bad: object
) -> None:
    claims = propelauth_claims(org_member_info=org_entry(bad))
    del claims["org_id_to_org_member_info"]
    error = refused_any(verifier, forge(RS256, claims, rsa_key))
    assert "org_member_info.org_id" in error.message


@pytest.mark.parametrize("bad", BAD_IDS, ids=BAD_ID_NAMES)
def test_bad_user_ids_are_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, bad: object
) -> None:
    error = refused_any(verifier, forge(RS256, propelauth_claims(user_id=bad), rsa_key))
    assert "'user_id'" in error.message


@pytest.mark.parametrize("sub", [123, None, ["u"], {"id": "u"}, True])
def test_a_non_string_sub_is_refused(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, sub: object
) -> None:
    refused(
        verifier,
        forge(RS256, propelauth_claims(sub=sub), rsa_key),
        "token claim 'sub' is not a string",
    )


def test_a_string_sub_is_accepted(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify(forge(RS256, propelauth_claims(sub=USER), rsa_key)).user_id == USER


def test_a_non_string_jti_is_refused(verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    refused(
        verifier,
        forge(RS256, propelauth_claims(jti=7), rsa_key),
        "token claim 'jti' is not a string",
    )


def test_messages_never_contain_the_token(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = forge(RS256, propelauth_claims(exp=NOW - 3600, iat=NOW - 4000), rsa_key)
    error = refused(verifier, token, "token has expired")
    for part in token.split("."):
        assert part not in repr(error.to_dict())


# --- any JSON type in any header or registered claim: accepted or Unauthorized -------------

JSON_VALUES: list[object] = [None, 0, 1, 1.5, True, "", "x", [], ["x"], [1], {}, {"a": 1}]


def test_any_json_type_in_the_header_or_claims_is_accepted_or_unauthorized(
    rsa_key: rsa.RSAPrivateKey, rsa_public_pem: bytes
) -> None:
    verifier = TokenVerifier(
        issuer=ISSUER, public_key_pem=rsa_public_pem, audience="api", clock=FakeClock()
    )
    header = {"alg": "RS256", "typ": "JWT", "kid": "k"}
    claims = propelauth_claims(aud="api", nbf=NOW, sub=USER, jti="j")
    tokens = [
        forge({**header, name: value}, claims, rsa_key)
        for name in [*header, "crit", "b64", "jku"]
        for value in JSON_VALUES
    ] + [
        forge(header, {**claims, name: value}, rsa_key)
        for name in ("exp", "iat", "nbf", "iss", "aud", "sub", "jti", "user_id")
        for value in JSON_VALUES
    ]
    for token in tokens:
        with contextlib.suppress(Unauthorized):
            verifier.verify(token)
