"""JwksClient against a fake JWKS server on 127.0.0.1: rotation, floods, failures, limits."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tenantkit.errors import Unauthorized
from tenantkit.tokens import JwksClient, TokenIssuer, TokenVerifier

from ._helpers import ISSUER, USER, FakeClock, propelauth_claims
from .conftest import FakeServer

pytestmark = pytest.mark.nodb

INTERVAL = 30.0


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def old_key(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(rsa_key, issuer=ISSUER, kid="2025-01", clock=clock)


@pytest.fixture
def new_key(clock: FakeClock) -> TokenIssuer:
    return TokenIssuer.generate(issuer=ISSUER, kid="2025-02", clock=clock)


@pytest.fixture
def jwks_server(http_server: Callable[[], FakeServer], old_key: TokenIssuer) -> FakeServer:
    server = http_server()
    server.serve_json(old_key.jwks())
    return server


def make_verifier(
    url: str, clock: FakeClock, monotonic: FakeClock, **options: Any
) -> TokenVerifier:
    client = JwksClient(url, min_refresh_interval=INTERVAL, clock=monotonic, **options)
    # No verified-token cache: every call must go through key lookup.
    return TokenVerifier(issuer=ISSUER, keys=client, clock=clock, cache_size=0)


def test_keys_are_fetched_once_and_cached(
    jwks_server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    verifier = make_verifier(jwks_server.url + "/jwks.json", clock, monotonic)
    for _ in range(5):
        assert verifier.verify(old_key.issue(user_id=USER)).user_id == USER
    assert jwks_server.requests == ["/jwks.json"]


def test_key_rotation(
    jwks_server: FakeServer,
    old_key: TokenIssuer,
    new_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
) -> None:
    verifier = make_verifier(jwks_server.url, clock, monotonic)
    assert verifier.verify(old_key.issue(user_id=USER))
    # The provider rotates: the old key is retired, a new kid appears.
    jwks_server.serve_json(new_key.jwks())
    monotonic.now += INTERVAL
    assert verifier.verify(new_key.issue(user_id=USER)).user_id == USER
    assert len(jwks_server.requests) == 2
    with pytest.raises(Unauthorized, match="token key id is unknown"):
        verifier.verify(old_key.issue(user_id=USER))
    # Even once a refetch is allowed again, the retired key stays refused.
    monotonic.now += INTERVAL
    with pytest.raises(Unauthorized, match="token key id is unknown"):
        verifier.verify(old_key.issue(user_id=USER))
    assert len(jwks_server.requests) == 3


def test_a_new_kid_waits_for_the_rate_limit(
    jwks_server: FakeServer,
    old_key: TokenIssuer,
    new_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
) -> None:
    verifier = make_verifier(jwks_server.url, clock, monotonic)
    assert verifier.verify(old_key.issue(user_id=USER))
    jwks_server.serve_json({"keys": old_key.jwks()["keys"] + new_key.jwks()["keys"]})
    monotonic.now += INTERVAL / 2
    with pytest.raises(Unauthorized, match="unknown"):
        verifier.verify(new_key.issue(user_id=USER))
    assert len(jwks_server.requests) == 1
    monotonic.now += INTERVAL / 2
    assert verifier.verify(new_key.issue(user_id=USER))
    assert len(jwks_server.requests) == 2


def test_an_unknown_kid_flood_costs_one_request(
    jwks_server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    verifier = make_verifier(jwks_server.url, clock, monotonic)
    assert verifier.verify(old_key.issue(user_id=USER))
    jwks_server.requests.clear()
    monotonic.now += INTERVAL
    for i in range(200):
        with pytest.raises(Unauthorized, match="token key id is unknown"):
            verifier.verify(old_key.sign(propelauth_claims(), headers={"kid": f"made-up-{i}"}))
    assert len(jwks_server.requests) == 1
    # Genuine tokens keep working throughout, from the cached set.
    assert verifier.verify(old_key.issue(user_id=USER))
    assert len(jwks_server.requests) == 1


def test_the_set_is_refetched_after_its_ttl(
    jwks_server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    verifier = make_verifier(jwks_server.url, clock, monotonic, cache_ttl=300)
    assert verifier.verify(old_key.issue(user_id=USER))
    monotonic.now += 299
    assert verifier.verify(old_key.issue(user_id=USER))
    assert len(jwks_server.requests) == 1
    monotonic.now += 1
    assert verifier.verify(old_key.issue(user_id=USER))
    assert len(jwks_server.requests) == 2


def test_a_failed_refetch_keeps_the_keys_held(
    jwks_server: FakeServer,
    old_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = make_verifier(jwks_server.url, clock, monotonic, cache_ttl=60)
    assert verifier.verify(old_key.issue(user_id=USER))
    jwks_server.status, jwks_server.body = 500, b"oops"
    monotonic.now += 120
    with caplog.at_level(logging.WARNING, logger="tenantkit.tokens._jwks"):
        for _ in range(10):
            assert verifier.verify(old_key.issue(user_id=USER)).user_id == USER
    # One failed attempt; the others were held back by the rate limit.
    assert len(jwks_server.requests) == 2
    assert "HTTP status 500" in caplog.text
    assert "keeping the keys already held" in caplog.text


def test_no_keys_at_all_is_unauthorized(
    http_server: Callable[[], FakeServer],
    old_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
) -> None:
    server = http_server()
    server.status, server.body = 503, b""
    verifier = make_verifier(server.url, clock, monotonic)
    for _ in range(3):
        with pytest.raises(Unauthorized, match="signing keys are unavailable"):
            verifier.verify(old_key.issue(user_id=USER))
    assert len(server.requests) == 1
    server.serve_json(old_key.jwks())
    monotonic.now += INTERVAL
    assert verifier.verify(old_key.issue(user_id=USER)).user_id == USER


def test_refresh_fetches_now_and_reports_failure(
    http_server: Callable[[], FakeServer], old_key: TokenIssuer, monotonic: FakeClock
) -> None:
    server = http_server()
    server.status = 404
    client = JwksClient(server.url, clock=monotonic)
    with pytest.raises(RuntimeError, match="HTTP status 404"):
        client.refresh()
    server.serve_json(old_key.jwks())
    client.refresh()
    assert client.get_key("2025-01").algorithm == "RS256"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"keys": {}}', b'{"keys": []}', b'{"keys": [1, "x"]}'],
    ids=["not-json", "list", "keys-object", "no-keys", "junk-keys"],
)
def test_an_unusable_response_is_a_failed_fetch(
    http_server: Callable[[], FakeServer], monotonic: FakeClock, body: bytes
) -> None:
    server = http_server()
    server.body = body
    with pytest.raises(RuntimeError):
        JwksClient(server.url, clock=monotonic).refresh()


def test_a_duplicate_key_in_the_response_is_refused(
    http_server: Callable[[], FakeServer], old_key: TokenIssuer, monotonic: FakeClock
) -> None:
    server = http_server()
    server.body = json.dumps(old_key.jwks()).replace('"keys"', '"keys": [], "keys"', 1).encode()
    with pytest.raises(RuntimeError, match="not valid JSON"):
        JwksClient(server.url, clock=monotonic).refresh()


def test_a_response_over_the_cap_is_refused(
    http_server: Callable[[], FakeServer], old_key: TokenIssuer, monotonic: FakeClock
) -> None:
    server = http_server()
    document = old_key.jwks()
    document["padding"] = "x" * 300_000
    server.serve_json(document)
    with pytest.raises(RuntimeError, match="too large"):
        JwksClient(server.url, clock=monotonic).refresh()
    JwksClient(server.url, clock=monotonic, max_response_bytes=400_000).refresh()


def test_weak_private_and_foreign_keys_are_skipped(
    http_server: Callable[[], FakeServer],
    old_key: TokenIssuer,
    rsa_key: rsa.RSAPrivateKey,
    monotonic: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    keys = [
        {**jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True), "kid": "weak"},
        {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key)), "kid": "private"},
        {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "hmac"},
        {**old_key.jwks()["keys"][0], "kid": "encryption", "use": "enc"},
        {**old_key.jwks()["keys"][0], "kid": "rs512", "alg": "RS512"},
        {**old_key.jwks()["keys"][0], "kid": None},
        *old_key.jwks()["keys"],
    ]
    server = http_server()
    server.serve_json({"keys": keys})
    client = JwksClient(server.url, clock=monotonic)
    with caplog.at_level(logging.WARNING, logger="tenantkit.tokens._jwks"):
        client.refresh()
    assert client.get_key("2025-01").kid == "2025-01"
    for kid in ("weak", "private", "hmac", "encryption", "rs512"):
        with pytest.raises(Unauthorized, match="unknown"):
            client.get_key(kid)
    assert "1024 bits" in caplog.text


def test_a_kid_listed_twice_is_ignored(
    http_server: Callable[[], FakeServer],
    old_key: TokenIssuer,
    new_key: TokenIssuer,
    monotonic: FakeClock,
) -> None:
    server = http_server()
    twin = {**new_key.jwks()["keys"][0], "kid": old_key.kid}
    server.serve_json({"keys": [*old_key.jwks()["keys"], twin, *new_key.jwks()["keys"]]})
    client = JwksClient(server.url, clock=monotonic)
    client.refresh()
    with pytest.raises(Unauthorized, match="unknown"):
        client.get_key(old_key.kid)
    assert client.get_key(new_key.kid).kid == new_key.kid


def test_redirects_are_not_followed(
    http_server: Callable[[], FakeServer], old_key: TokenIssuer, monotonic: FakeClock
) -> None:
    target = http_server()
    target.serve_json(old_key.jwks())
    server = http_server()
    server.status = 302
    server.headers = {"Location": target.url + "/jwks.json"}
    with pytest.raises(RuntimeError, match="HTTP status 302"):
        JwksClient(server.url, clock=monotonic).refresh()
    assert target.requests == []


def test_the_token_jku_header_is_never_fetched(
    http_server: Callable[[], FakeServer],
    jwks_server: FakeServer,
    old_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
) -> None:
    attacker_key = TokenIssuer.generate(issuer=ISSUER, kid="attacker", clock=clock)
    attacker = http_server()
    attacker.serve_json(attacker_key.jwks())
    verifier = make_verifier(jwks_server.url, clock, monotonic)
    headers = {"jku": attacker.url + "/jwks.json", "x5u": attacker.url + "/cert.pem"}
    with pytest.raises(Unauthorized, match="token key id is unknown"):
        verifier.verify(attacker_key.sign(propelauth_claims(), headers=headers))
    assert attacker.requests == []
    assert len(jwks_server.requests) == 1  # the configured URL only


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_a_hung_server_times_out(
    silent_port: int, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    verifier = make_verifier(f"http://127.0.0.1:{silent_port}/jwks", clock, monotonic, timeout=0.2)
    with pytest.raises(Unauthorized, match="signing keys are unavailable"):
        verifier.verify(old_key.issue(user_id=USER))


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example.com/jwks",
        "file:///etc/passwd",
        "ftp://127.0.0.1/jwks",
        "https:///jwks",
        "jwks.json",
        "http://127.0.0.1.evil.example/jwks",
    ],
)
def test_only_https_or_loopback_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        JwksClient(url)


def test_jwks_url_builds_a_client() -> None:
    verifier = TokenVerifier(issuer=ISSUER, jwks_url="https://auth.example.com/.well-known/jwks")
    assert isinstance(verifier._keys, JwksClient)
