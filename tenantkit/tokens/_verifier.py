"""Verifying access tokens: `TokenVerifier.verify(token) -> Principal`, or `Unauthorized`.

    verifier = TokenVerifier(issuer="https://auth.example.com", public_key_pem=PEM)
    principal = verifier.verify(token)          # raises tenantkit.errors.Unauthorized

Keys come from exactly one of `public_key_pem`, `jwks` (a local JWK set),
`jwks_url` (fetched and cached, see `tenantkit.tokens._jwks.JwksClient`) or `keys` (any
`KeySource`). Async code calls `await verify_async(token)`: a key fetch it needs
runs on a worker thread, never on the event loop; `await prefetch()` at startup
fetches remote keys before the first request. The payload becomes a `Principal`
through a claims adapter: `PropelAuthClaims()` by default, or
`WorkOSClaims(role_hierarchy=...)`.

What a token must satisfy, checked in this order and each failure an `Unauthorized`
with a fixed message that never echoes the token:
- at most `max_token_bytes` (8 KiB), ASCII, three base64url segments, checked
  before anything is decoded;
- a header that is a JSON object without duplicate keys, no `crit` or `b64`,
  an `alg` from `algorithms` (RS256 by default; ES256 and EdDSA on request) that
  matches the key chosen by `kid`; `jku`, `x5u`, `jwk` and `x5c` are never read;
- a valid signature, and only then a payload without duplicate keys;
- `exp` and `iat` present as JSON integers (not strings, floats or booleans),
  `0 < exp - iat <= max_lifetime`, `exp` not passed and `iat`/`nbf` not in the
  future, each with `leeway` (60 s);
- `iss` exactly one of `issuer`; `aud`, when `audience` is set, present and
  matching (a list matches if any entry does); a token carrying `aud` is refused
  when no `audience` is configured; `sub` and `jti`, if present, strings;
- the claims adapter's shape checks (id formats, field types).

Verified tokens are cached by hash until their `exp` (`cache_size`, 0 to disable).

Why not `jwt.decode`: it cannot refuse duplicate JSON keys, accepts `exp` as a
numeric string, and spends most of its time checking the base64 alphabet byte by
byte. Here the token is parsed once and the signature is checked by PyJWT's own
algorithm implementations.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from tenantkit import _strict_json
from tenantkit.errors import Unauthorized
from tenantkit.tokens._cache import VerifiedTokenCache
from tenantkit.tokens._claims import ClaimsAdapter, PropelAuthClaims
from tenantkit.tokens._jwks import (
    SUPPORTED_ALGORITHMS,
    AsyncKeySource,
    JwksClient,
    KeySet,
    KeySource,
    VerificationKey,
)
from tenantkit.tokens.principal import Principal

if TYPE_CHECKING:
    from tenantkit.tokens.issuer import TokenIssuer

__all__ = ["TokenVerifier"]

DEFAULT_MAX_TOKEN_BYTES = 8 * 1024
DEFAULT_LEEWAY = 60
DEFAULT_MAX_LIFETIME = 24 * 3600

# Three base64url segments; the signature may be empty so that `alg: none` is
# refused for its algorithm rather than for its shape.
_COMPACT = re.compile(rb"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
# The last character of an unpadded segment must leave no stray bits, so each
# byte string has exactly one encoding (and one cache key).
_CLEAN_LAST = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A token split and its header checked: what is left is the key and the signature."""

    kid: str | None
    alg: str
    signing_input: bytes
    signature_segment: bytes
    payload_segment: bytes


def _fail(message: str) -> NoReturn:
    raise Unauthorized(message)


def _b64decode(segment: bytes) -> bytes:
    remainder = len(segment) % 4
    if remainder == 1 or (remainder and segment[-1] not in _CLEAN_LAST[remainder]):
        _fail("token is malformed")
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-remainder % 4))
    except binascii.Error:
        _fail("token is malformed")


def _json_object(segment: bytes) -> dict[str, Any]:
    try:
        value = _strict_json.loads(_b64decode(segment))
    except _strict_json.DuplicateKeyError:
        _fail("token has duplicate JSON keys")
    except ValueError:
        _fail("token is malformed")
    if type(value) is not dict:
        _fail("token is malformed")
    return value


def _names(value: str | Iterable[str], what: str) -> frozenset[str]:
    # A bare str must not become a set of characters, nor be matched as a substring.
    names = frozenset((value,) if isinstance(value, str) else value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{what} must be a non-empty str or a collection of them")
    return names


def _algorithms(algorithms: Iterable[str]) -> frozenset[str]:
    allowed = _names(algorithms, "algorithms")
    symmetric = {a for a in allowed if a.upper().startswith("HS")}
    if symmetric and allowed - symmetric:
        raise ValueError(
            "mixing symmetric (HS*) and asymmetric algorithms is refused: "
            "a public key would become an HMAC secret"
        )
    if symmetric:
        raise ValueError("symmetric (HS*) algorithms are not supported; use RS256, ES256 or EdDSA")
    unsupported = allowed - SUPPORTED_ALGORITHMS
    if unsupported:
        raise ValueError(
            f"unsupported algorithms {sorted(unsupported)}; choose from "
            f"{sorted(SUPPORTED_ALGORITHMS)}"
        )
    return allowed


def _key_source(
    public_key_pem: str | bytes | None,
    jwks: Mapping[str, Any] | None,
    jwks_url: str | None,
    keys: KeySource | None,
    algorithms: frozenset[str],
) -> KeySource:
    given = [k for k in (public_key_pem, jwks, jwks_url, keys) if k is not None]
    if len(given) != 1:
        raise ValueError("pass exactly one of public_key_pem, jwks, jwks_url or keys")
    if jwks_url is not None:
        return JwksClient(jwks_url)
    if keys is not None:
        return keys
    if public_key_pem is not None:
        local = KeySet.from_pem(public_key_pem)
    else:
        assert jwks is not None  # exactly one source was given
        local = KeySet.from_jwks(jwks)
    for key in local.keys:
        # Fail at startup, not on the first request, when a pinned key cannot be used.
        if key.algorithm not in algorithms:
            raise ValueError(
                f"the configured {key.algorithm} key cannot verify any of {sorted(algorithms)}"
            )
    return local


class TokenVerifier:
    """Verifies access tokens strictly and returns the `Principal` they describe.

    Thread-safe; build one per issuer at startup and share it. `clock` (epoch
    seconds) exists for tests.
    """

    def __init__(
        self,
        *,
        issuer: str | Iterable[str],
        public_key_pem: str | bytes | None = None,
        jwks: Mapping[str, Any] | None = None,
        jwks_url: str | None = None,
        keys: KeySource | None = None,
        algorithms: Iterable[str] = ("RS256",),
        audience: str | Iterable[str] | None = None,
        claims: ClaimsAdapter | None = None,
        leeway: int = DEFAULT_LEEWAY,
        max_lifetime: int = DEFAULT_MAX_LIFETIME,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if leeway < 0 or max_lifetime <= 0 or max_token_bytes <= 0 or cache_size < 0:
            raise ValueError(
                "leeway and cache_size must be >= 0; max_lifetime and max_token_bytes > 0"
            )
        self._algorithms = _algorithms(algorithms)
        self._keys = _key_source(public_key_pem, jwks, jwks_url, keys, self._algorithms)
        # Decided once: a runtime Protocol check costs microseconds.
        self._async_keys = self._keys if isinstance(self._keys, AsyncKeySource) else None
        self._issuers = _names(issuer, "issuer")
        self._audiences = None if audience is None else _names(audience, "audience")
        self._claims: ClaimsAdapter = claims if claims is not None else PropelAuthClaims()
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._max_token_bytes = max_token_bytes
        self._cache = VerifiedTokenCache(cache_size) if cache_size else None
        self._clock = clock

    @classmethod
    def for_issuer(cls, issuer: TokenIssuer, **options: Any) -> TokenVerifier:
        """A verifier for tokens from tenantkit's own `TokenIssuer` (its JWKS, issuer, audience)."""
        options.setdefault("audience", issuer.audience)
        return cls(issuer=issuer.issuer, jwks=issuer.jwks(), **options)

    @classmethod
    def for_propelauth(cls, auth_url: str, verifier_key_pem: str, **options: Any) -> TokenVerifier:
        """A verifier for PropelAuth, expecting `iss` = `https://<host[:port] of auth_url>`."""
        netloc = urlsplit(auth_url).netloc
        if not netloc:
            raise ValueError("auth_url must be a URL such as https://auth.example.com")
        return cls(issuer=f"https://{netloc}", public_key_pem=verifier_key_pem, **options)

    def verify(self, token: str | bytes) -> Principal:
        """The principal of a valid token; `Unauthorized` with a fixed reason otherwise.

        Safe on an event loop's thread (a key fetch then runs in the background and
        the keys already held answer), but async code should use `verify_async`.
        """
        raw = self._raw(token)
        now = self._clock()
        cache = self._cache
        if cache is None:
            parsed = self._parse(raw)
            return self._finish(parsed, self._keys.get_key(parsed.kid), now)[0]
        cache_key = cache.key(raw)
        principal = cache.get(cache_key, now)
        if principal is None:
            parsed = self._parse(raw)
            principal, expires_at = self._finish(parsed, self._keys.get_key(parsed.kid), now)
            cache.put(cache_key, principal, expires_at)
        return principal

    async def verify_async(self, token: str | bytes) -> Principal:
        """`verify` for async code: a key fetch it needs is awaited off the event loop.

        The twin of `verify`; only the key lookup differs.
        """
        raw = self._raw(token)
        now = self._clock()
        cache = self._cache
        cache_key = b""
        if cache is not None:
            cache_key = cache.key(raw)
            hit = cache.get(cache_key, now)
            if hit is not None:
                return hit
        parsed = self._parse(raw)
        keys = self._async_keys
        key = (
            await keys.get_key_async(parsed.kid)
            if keys is not None
            else self._keys.get_key(parsed.kid)
        )
        principal, expires_at = self._finish(parsed, key, now)
        if cache is not None:
            cache.put(cache_key, principal, expires_at)
        return principal

    async def prefetch(self) -> None:
        """Fetch remote signing keys now, off the event loop; a no-op for pinned keys.

        Await it at startup (a lifespan handler), so no request waits for the first
        fetch. Raises `RuntimeError` when the JWKS endpoint cannot be fetched.
        """
        if self._async_keys is not None:
            await self._async_keys.prefetch()

    def _raw(self, token: str | bytes) -> bytes:
        if isinstance(token, str):
            # Size first: nothing of an oversized token is examined further.
            if len(token) > self._max_token_bytes:
                _fail("token is too large")
            if not token.isascii():
                _fail("token is malformed")
            raw = token.encode("ascii")
        elif isinstance(token, bytes):
            if len(token) > self._max_token_bytes:
                _fail("token is too large")
            raw = token
        else:
            raise TypeError(f"token must be str or bytes, not {type(token).__name__}")
        if not raw:
            _fail("token is empty")
        return raw

    def _parse(self, raw: bytes) -> _Parsed:
        """The token's segments and its checked header: everything before the key lookup."""
        match = _COMPACT.fullmatch(raw)
        if match is None:
            _fail("token is malformed")
        header_segment, payload_segment, signature_segment = match.groups()

        header = _json_object(header_segment)
        alg = header.get("alg")
        if type(alg) is not str or alg not in self._algorithms:
            _fail("token algorithm is not allowed")
        if "crit" in header or "b64" in header:
            _fail("token uses an unsupported critical header")
        kid = header.get("kid")
        if kid is not None and type(kid) is not str:
            _fail("token is malformed")
        signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
        return _Parsed(kid, alg, signing_input, signature_segment, payload_segment)

    def _finish(
        self, parsed: _Parsed, key: VerificationKey, now: float
    ) -> tuple[Principal, int]:
        """The signature, then the payload: the principal and the token's `exp`."""
        if key.algorithm != parsed.alg:
            _fail("token algorithm does not match its key")
        if not key.verify(parsed.signing_input, _b64decode(parsed.signature_segment)):
            _fail("token signature is invalid")

        claims = _json_object(parsed.payload_segment)
        expires_at = self._check_registered_claims(claims, now)
        return self._claims.to_principal(claims), expires_at

    def _check_registered_claims(self, claims: dict[str, Any], now: float) -> int:
        exp = claims.get("exp")
        iat = claims.get("iat")
        # type() is int refuses bool, float and numeric strings, which PyJWT would accept.
        if type(exp) is not int:
            _fail("token claim 'exp' is missing or not an integer")
        if type(iat) is not int:
            _fail("token claim 'iat' is missing or not an integer")
        if not 0 < exp - iat <= self._max_lifetime:
            _fail("token lifetime is out of range")
        leeway = self._leeway
        if exp <= now - leeway:
            _fail("token has expired")
        if iat > now + leeway:
            _fail("token is not valid yet")
        if "nbf" in claims:
            nbf = claims["nbf"]
            if type(nbf) is not int:
                _fail("token claim 'nbf' is not an integer")
            if nbf > now + leeway:
                _fail("token is not valid yet")
        iss = claims.get("iss")
        if iss is None:
            _fail("token claim 'iss' is missing")
        if type(iss) is not str or iss not in self._issuers:
            _fail("token issuer is not accepted")
        if "aud" in claims or self._audiences is not None:
            self._check_audience(claims.get("aud"))
        for name in ("sub", "jti"):
            if name in claims and type(claims[name]) is not str:
                _fail(f"token claim {name!r} is not a string")
        return exp

    def _check_audience(self, aud: object) -> None:
        audiences = self._audiences
        if audiences is None:
            _fail("token has an audience but none is configured")
        if aud is None:
            _fail("token claim 'aud' is missing")
        if type(aud) is str:
            if aud in audiences:
                return
        elif type(aud) is list and aud and all(type(a) is str for a in aud):
            if not audiences.isdisjoint(aud):
                return
        else:
            _fail("token claim 'aud' is malformed")
        _fail("token audience is not accepted")
