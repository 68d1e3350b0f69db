"""The public keys that verify tokens: a fixed `KeySet`, or a `JwksClient` that fetches one.

Both answer one question, `get_key(kid)`, by exact `kid` (a single PEM key answers
every kid). Each key is bound to the one algorithm its type allows (RSA → RS256,
P-256 → ES256, Ed25519/Ed448 → EdDSA), so a token can never pick how its key is used.
URLs inside a token (`jku`, `x5u`, `jwk`) are never read.

`JwksClient` is written here rather than reusing PyJWT's `PyJWKClient`, which holds
its lock across the HTTP call, stops serving its keys once they expire even when
the refetch fails, then retries that refetch on every request, and reads a
response of any size. Parsing a JWK into a key is still PyJWT's job (`PyJWK`).

No fetch ever runs on an event loop: `get_key_async` (what `verify_async` and the
web adapters use) awaits it on a worker thread, `prefetch()` fetches at startup,
and a plain `get_key` called from a thread that runs an event loop starts the
fetch in the background and answers from the keys already held.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import Algorithm

from tenantkit import _strict_json
from tenantkit.errors import Unauthorized

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AsyncKeySource",
    "JwksClient",
    "KeySet",
    "KeySource",
    "VerificationKey",
]

logger = logging.getLogger(__name__)

#: The algorithms tenantkit verifies. Symmetric (HS*) algorithms are never among them.
SUPPORTED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})

MIN_RSA_BITS = 2048

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key, its `kid` (None for a lone PEM key) and the one algorithm it verifies."""

    kid: str | None
    algorithm: str
    public_key: PublicKey = field(repr=False)
    _impl: Algorithm = field(repr=False, compare=False)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's signature over `signing_input`."""
        return self._impl.verify(signing_input, self.public_key, signature)

    @classmethod
    def from_public_key(cls, public_key: object, kid: str | None = None) -> VerificationKey:
        """Bind a `cryptography` public key to its algorithm; `ValueError` if unusable."""
        if isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < MIN_RSA_BITS:
                raise ValueError(
                    f"RSA key is {public_key.key_size} bits; at least {MIN_RSA_BITS} are required"
                )
            algorithm = "RS256"
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise ValueError(f"EC curve {public_key.curve.name} is not supported; use P-256")
            algorithm = "ES256"
        elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            algorithm = "EdDSA"
        else:
            raise ValueError(
                f"{type(public_key).__name__} is not a supported public key "
                "(RSA, EC P-256, Ed25519 or Ed448)"
            )
        return cls(kid, algorithm, public_key, jwt.get_algorithm_by_name(algorithm))

    @classmethod
    def from_pem(cls, pem: str | bytes, kid: str | None = None) -> VerificationKey:
        """Load a PEM public key (`-----BEGIN PUBLIC KEY-----`)."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            public_key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "not a PEM public key (pass the public key, never the private one)"
            ) from exc
        return cls.from_public_key(public_key, kid)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> VerificationKey:
        """Load one public JWK, which must carry a string `kid`."""
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("JWK has no kid")
        if "d" in jwk or jwk.get("kty") == "oct":
            raise ValueError(f"JWK {kid!r} is private or symmetric key material")
        use = jwk.get("use")
        if use is not None and use != "sig":
            raise ValueError(f"JWK {kid!r} is not a signing key (use={use!r})")
        try:
            parsed = jwt.PyJWK(dict(jwk))
        except jwt.PyJWTError as exc:
            raise ValueError(f"JWK {kid!r} cannot be loaded: {exc}") from exc
        key = cls.from_public_key(parsed.key, kid)
        declared = jwk.get("alg")
        if declared is not None and declared != key.algorithm:
            raise ValueError(f"JWK {kid!r} declares alg {declared!r}; only {key.algorithm} fits")
        return key


class KeySource(Protocol):
    """Anything that finds the verification key for a token's `kid`.

    `get_key` must not wait on the network when called on an event loop's thread;
    a source that fetches keys implements `AsyncKeySource` too.
    """

    def get_key(self, kid: str | None) -> VerificationKey:
        """The key for `kid`; raise `Unauthorized` if there is none."""
        ...


@runtime_checkable
class AsyncKeySource(KeySource, Protocol):
    """A key source that may fetch keys: async callers await the fetch off the event loop."""

    async def get_key_async(self, kid: str | None) -> VerificationKey:
        """`get_key`, awaiting any fetch on a worker thread."""
        ...

    async def prefetch(self) -> None:
        """Fetch the keys now (at startup), off the event loop."""
        ...


def _index(keys: Iterable[VerificationKey]) -> dict[str, VerificationKey]:
    by_kid: dict[str, VerificationKey] = {}
    for key in keys:
        if key.kid is None:
            raise ValueError("every key in a key set needs a kid")
        if key.kid in by_kid:
            raise ValueError(f"kid {key.kid!r} appears twice")
        by_kid[key.kid] = key
    return by_kid


def _require_kid(kid: str | None) -> str:
    if kid is None:
        raise Unauthorized("token has no key id")
    return kid


class KeySet:
    """A fixed set of keys, from a PEM or a local JWK set; refuses bad keys at construction."""

    def __init__(self, keys: Iterable[VerificationKey]) -> None:
        keys = list(keys)
        if not keys:
            raise ValueError("a key set needs at least one key")
        # A lone kid-less key (a PEM) answers every kid, the way PropelAuth pins one key.
        self._single = keys[0] if len(keys) == 1 and keys[0].kid is None else None
        self._by_kid = {} if self._single else _index(keys)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> KeySet:
        """One PEM public key, used whatever `kid` a token names."""
        return cls([VerificationKey.from_pem(pem)])

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """A JWK set (`{"keys": [...]}`); every key must be a usable public signing key."""
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise ValueError('a JWK set is an object with a "keys" list')
        return cls(VerificationKey.from_jwk(entry) for entry in entries)

    @property
    def keys(self) -> tuple[VerificationKey, ...]:
        """Every key in the set."""
        return (self._single,) if self._single else tuple(self._by_kid.values())

    def get_key(self, kid: str | None) -> VerificationKey:
        """The key for `kid` (exact match)."""
        if self._single is not None:
            return self._single
        key = self._by_kid.get(_require_kid(kid))
        if key is None:
            raise Unauthorized("token key id is unknown")
        return key


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _FetchError(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could move the fetch anywhere, including http:// or an internal host.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return  # local development and tests only
    raise ValueError("the JWKS URL must be https:// (http:// only for a loopback host)")


class JwksClient:
    """Fetches a JWK set over HTTPS and keeps it; a `KeySource` for `TokenVerifier`.

    - A key is chosen by exact `kid`. An unknown `kid` triggers a refetch, and so does
      a set older than `cache_ttl`, but fetches (successful or not) are at least
      `min_refresh_interval` seconds apart: a flood of made-up kids costs one request.
    - A failed refetch keeps serving the keys already held. Only when no set was ever
      fetched does verification fail, with "signing keys are unavailable".
    - Each fetch is bounded by `timeout` per network operation and by a deadline of
      about twice that overall; redirects are refused and the body is capped at
      `max_response_bytes`. It runs on the calling thread for sync callers, on a
      worker thread for `get_key_async`, and in the background for a sync call made
      on an event loop's thread. `await prefetch()` (or `refresh()`) at startup.
    - Keys that are weak (RSA under 2048 bits), private, symmetric, unsupported or
      missing a `kid` are skipped with a warning; the rest of the set still works.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        cache_ttl: float = 300.0,
        min_refresh_interval: float = 30.0,
        max_response_bytes: int = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_url(url)
        if timeout <= 0 or cache_ttl <= 0 or min_refresh_interval < 0:
            raise ValueError("timeout and cache_ttl must be positive, min_refresh_interval >= 0")
        self.url = url
        self._timeout = timeout
        self._cache_ttl = cache_ttl
        self._min_refresh_interval = min_refresh_interval
        self._max_response_bytes = max_response_bytes
        self._clock = clock
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._lock = threading.Lock()  # held by the thread that fetches, never by a loop
        self._background_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None

    def get_key(self, kid: str | None) -> VerificationKey:
        """The key for `kid`, refetching the set at most once per `min_refresh_interval`.

        On a thread that runs an event loop it never waits: the refetch then runs
        in the background and the keys already held answer (async code should
        call `get_key_async`, which waits for it without holding the loop).
        """
        steps = self._lookup_steps(kid)
        try:
            next(steps)
            while True:
                steps.send(self._refresh_here())
        except StopIteration as done:
            key: VerificationKey = done.value
            return key

    async def get_key_async(self, kid: str | None) -> VerificationKey:
        """`get_key` for async code: a refetch is awaited on a worker thread, off the loop."""
        steps = self._lookup_steps(kid)
        try:
            next(steps)
            while True:
                steps.send(await self._refresh_off_loop())
        except StopIteration as done:
            key: VerificationKey = done.value
            return key

    def refresh(self) -> None:
        """Fetch the set now, ignoring the rate limit; raises `RuntimeError` if that fails."""
        with self._lock:
            try:
                self._attempt()
            except _FetchError as exc:
                raise RuntimeError(f"cannot fetch the JWK set from {self.url}: {exc}") from exc

    async def prefetch(self) -> None:
        """`refresh()` on a worker thread: await it at startup so no request has to."""
        await asyncio.to_thread(self.refresh)

    def _lookup_steps(self, kid: str | None) -> Generator[None, bool, VerificationKey]:
        """The lookup, sans I/O: each `yield` asks the driver to try a refetch (its answer:
        whether a new set was stored), so the sync and async drivers share one algorithm."""
        kid = _require_kid(kid)
        if self._keys is None or self._clock() - self._fetched_at >= self._cache_ttl:
            yield  # whatever came of it, the lookup below reads the set now held
        key = self._lookup(kid)
        if key is None and (yield):
            key = self._lookup(kid)
        if key is not None:
            return key
        if self._keys is None:
            raise Unauthorized("signing keys are unavailable")
        raise Unauthorized("token key id is unknown")

    def _refresh_here(self) -> bool:
        # A thread that runs an event loop must never wait on the network.
        if _on_event_loop():
            return self._refresh_in_background()
        return self._refresh_if_allowed()

    async def _refresh_off_loop(self) -> bool:
        if not self._may_attempt():  # the common case costs no thread hop
            return False
        return await asyncio.to_thread(self._refresh_if_allowed)

    def _refresh_in_background(self) -> bool:
        """Start a refetch on a thread of its own (one at a time); never waits, so False."""
        if not self._may_attempt():
            return False
        with self._background_lock:
            running = self._background
            if running is None or not running.is_alive():
                self._background = threading.Thread(
                    target=self._refresh_if_allowed, name="tenantkit-jwks", daemon=True
                )
                self._background.start()
        return False

    def _lookup(self, kid: str) -> VerificationKey | None:
        keys = self._keys
        return None if keys is None else keys.get(kid)

    def _refresh_if_allowed(self) -> bool:
        """Refetch unless one was attempted recently; True if a new set was stored."""
        if not self._may_attempt():  # cheap unlocked pre-check on the hot path
            return False
        with self._lock:
            # Another thread may have fetched while this one waited for the lock.
            if not self._may_attempt():
                return False
            try:
                self._attempt()
            except _FetchError as exc:
                held = "keeping the keys already held" if self._keys else "no keys held yet"
                logger.warning("JWKS fetch from %s failed (%s); %s", self.url, exc, held)
                return False
            return True

    def _may_attempt(self) -> bool:
        last = self._last_attempt
        return last is None or self._clock() - last >= self._min_refresh_interval

    def _attempt(self) -> None:
        # Caller holds the lock. The attempt counts for the rate limit even if it fails.
        self._last_attempt = self._clock()
        self._keys = self._fetch()
        self._fetched_at = self._clock()

    def _fetch(self) -> dict[str, VerificationKey]:
        try:
            document = _strict_json.loads(self._download())
        except ValueError as exc:
            raise _FetchError("the response is not valid JSON") from exc
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise _FetchError('the response is not a JWK set (an object with a "keys" list)')
        keys: dict[str, VerificationKey] = {}
        repeated: set[str] = set()
        for entry in entries:
            try:
                if not isinstance(entry, dict):
                    raise ValueError("a JWK set entry is not an object")
                key = VerificationKey.from_jwk(entry)
            except ValueError as exc:
                logger.warning("JWKS %s: skipping a key: %s", self.url, exc)
                continue
            assert key.kid is not None  # from_jwk requires one
            if key.kid in keys:
                repeated.add(key.kid)  # ambiguous: neither copy is trusted
            keys[key.kid] = key
        for kid in repeated:
            logger.warning("JWKS %s: kid %r appears more than once; ignoring it", self.url, kid)
            del keys[kid]
        if not keys:
            raise _FetchError("the JWK set holds no usable signing key")
        return keys

    def _download(self) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - the scheme was checked in __init__
            self.url, headers={"Accept": "application/json", "User-Agent": "tenantkit"}
        )
        deadline = time.monotonic() + 2 * self._timeout
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                chunks: list[bytes] = []
                size = 0
                # read1 returns after one socket read, so a slow drip meets the deadline.
                while chunk := response.read1(64 * 1024):
                    size += len(chunk)
                    if size > self._max_response_bytes:
                        raise _FetchError("the response is too large")
                    if time.monotonic() > deadline:
                        raise _FetchError("the response took too long")
                    chunks.append(chunk)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _FetchError(f"HTTP status {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, HTTPException) as exc:
            raise _FetchError(type(exc).__name__) from exc
        return b"".join(chunks)
