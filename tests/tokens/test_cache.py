"""The verified-token cache: repeated tokens skip the checks, and never outlive their exp."""

from __future__ import annotations

import hashlib
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tenantkit.errors import Unauthorized
from tenantkit.tokens import (
    Principal,
    TokenIssuer,
    TokenVerifier,
    VerificationKey,
    VerifiedTokenCache,
)

from ._helpers import ISSUER, NOW, USER, FakeClock

pytestmark = pytest.mark.nodb


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Counts full verifications by recording each signature check."""
    checks: list[bytes] = []
    real = VerificationKey.verify

    def spy(self: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
        checks.append(signing_input)
        return real(self, signing_input, signature)

    monkeypatch.setattr(VerificationKey, "verify", spy)
    return checks


@pytest.fixture
def issuer(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(rsa_key, issuer=ISSUER, clock=clock)


def cached_verifier(issuer: TokenIssuer, clock: FakeClock, size: int = 16) -> TokenVerifier:
    return TokenVerifier.for_issuer(issuer, clock=clock, cache_size=size)


def test_a_repeated_token_is_served_from_the_cache(
    issuer: TokenIssuer, clock: FakeClock, signature_checks: list[bytes]
) -> None:
    verifier = cached_verifier(issuer, clock)
    token = issuer.issue(user_id=USER)
    first = verifier.verify(token)
    for _ in range(5):
        assert verifier.verify(token) is first
    assert len(signature_checks) == 1


def test_str_and_bytes_share_an_entry(
    issuer: TokenIssuer, clock: FakeClock, signature_checks: list[bytes]
) -> None:
    verifier = cached_verifier(issuer, clock)
    token = issuer.issue(user_id=USER)
    assert verifier.verify(token) is verifier.verify(token.encode())
    assert len(signature_checks) == 1


def test_the_cache_never_serves_a_token_at_its_exp(
    issuer: TokenIssuer, clock: FakeClock, signature_checks: list[bytes]
) -> None:
    verifier = cached_verifier(issuer, clock)
    token = issuer.issue(user_id=USER, lifetime=100)
    verifier.verify(token)
    clock.now = NOW + 99
    verifier.verify(token)
    assert len(signature_checks) == 1
    # At exp the entry is dead; the full check runs (and, within the leeway, accepts).
    clock.now = NOW + 100
    assert verifier.verify(token).user_id == USER
    assert len(signature_checks) == 2


def test_the_cache_never_serves_an_expired_token(issuer: TokenIssuer, clock: FakeClock) -> None:
    verifier = cached_verifier(issuer, clock)
    token = issuer.issue(user_id=USER, lifetime=100)
    verifier.verify(token)
    clock.now = NOW + 100 + 60
    with pytest.raises(Unauthorized, match="token has expired"):
        verifier.verify(token)


def test_failures_are_not_cached(
    issuer: TokenIssuer, clock: FakeClock, signature_checks: list[bytes]
) -> None:
    verifier = cached_verifier(issuer, clock)
    forged = TokenIssuer.generate(issuer=ISSUER, kid=issuer.kid, clock=clock).issue(user_id=USER)
    for _ in range(2):
        with pytest.raises(Unauthorized, match="signature is invalid"):
            verifier.verify(forged)
    assert len(signature_checks) == 2


def test_the_cache_is_bounded_and_drops_the_oldest(
    issuer: TokenIssuer, clock: FakeClock, signature_checks: list[bytes]
) -> None:
    verifier = cached_verifier(issuer, clock, size=3)
    tokens = [issuer.issue(user_id=USER, lifetime=100 + i) for i in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert len(signature_checks) == 5
    for token in tokens[2:]:
        verifier.verify(token)
    assert len(signature_checks) == 5  # the three newest are cached
    verifier.verify(tokens[0])
    assert len(signature_checks) == 6  # the oldest was evicted


def test_a_zero_size_disables_the_cache(
    issuer: TokenIssuer, clock: FakeClock, signature_checks: list[bytes]
) -> None:
    verifier = cached_verifier(issuer, clock, size=0)
    token = issuer.issue(user_id=USER)
    verifier.verify(token)
    verifier.verify(token)
    assert len(signature_checks) == 2


def test_entries_are_keyed_by_sha256_not_by_token() -> None:
    cache = VerifiedTokenCache(4)
    token = b"header.payload.signature"
    key = cache.key(token)
    assert key == hashlib.sha256(token).digest()
    principal = Principal(user_id=USER)
    cache.put(key, principal, NOW + 10)
    assert cache.get(key, NOW) is principal
    assert cache.get(cache.key(token + b"x"), NOW) is None
    assert cache.get(key, NOW + 10) is None
    assert len(cache) == 0  # the dead entry was removed


def test_putting_an_existing_key_does_not_evict() -> None:
    cache = VerifiedTokenCache(2)
    first, second = cache.key(b"a"), cache.key(b"b")
    cache.put(first, Principal(user_id=USER), NOW + 10)
    cache.put(second, Principal(user_id=USER), NOW + 10)
    cache.put(second, Principal(user_id=USER), NOW + 20)
    assert cache.get(first, NOW) is not None
    assert len(cache) == 2


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        VerifiedTokenCache(0)


def test_concurrent_verification_is_consistent(issuer: TokenIssuer, clock: FakeClock) -> None:
    verifier = cached_verifier(issuer, clock, size=8)
    tokens = [issuer.issue(user_id=USER, lifetime=100 + i) for i in range(20)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                for token in tokens:
                    assert verifier.verify(token).user_id == USER
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
