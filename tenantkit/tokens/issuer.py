"""Signing access tokens for self-hosting, the demo and tests: `TokenIssuer`.

    issuer = TokenIssuer.generate(issuer="https://app.example.com")   # fresh RSA-2048 key
    issuer = TokenIssuer.from_pem(private_key_pem, issuer="https://app.example.com")
    token = issuer.issue(
        user_id=user_id, email="ada@example.com",
        orgs=[OrgMemberInfo(org_id=org_id, user_role="Admin",
                            inherited_user_roles_plus_current_role=("Admin", "Member"))],
        active_org_id=None, lifetime=1800,
    )
    issuer.public_key_pem, issuer.jwks()        # what a verifier needs
    verifier = TokenVerifier.for_issuer(issuer)

Tokens are PropelAuth-shaped and signed RS256 with a `kid` header (by default the
key's RFC 7638 thumbprint, so it is stable across restarts). With `active_org_id`
the token carries that one org as `org_member_info`; otherwise every org goes into
`org_id_to_org_member_info`. `sign()` signs any claims as given, for other shapes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tenantkit.tokens._jwks import MIN_RSA_BITS
from tenantkit.tokens.principal import LoginMethod, OrgMemberInfo

__all__ = ["DEFAULT_ISSUER", "DEFAULT_LIFETIME", "TokenIssuer"]

#: The `iss` of tokens from an issuer built without one; fine for local development only.
DEFAULT_ISSUER = "tenantkit"
#: Seconds a token lives unless `lifetime` says otherwise.
DEFAULT_LIFETIME = 30 * 60

_ALGORITHM = "RS256"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    # RFC 7638: SHA-256 over the required members, sorted, without whitespace.
    canonical = json.dumps(_public_jwk(public_key), separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


class TokenIssuer:
    """Signs RS256 access tokens with one RSA private key (at least 2048 bits)."""

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        issuer: str = DEFAULT_ISSUER,
        kid: str | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        audience: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise TypeError("TokenIssuer signs RS256 and needs an RSA private key")
        if private_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"the RSA key must have at least {MIN_RSA_BITS} bits")
        if not issuer:
            raise ValueError("issuer must not be empty")
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self._private_key = private_key
        self.issuer = issuer
        self.kid = kid or _thumbprint(private_key.public_key())
        self.lifetime = lifetime
        self.audience = audience
        self._clock = clock

    @classmethod
    def generate(cls, **options: Any) -> TokenIssuer:
        """An issuer with a fresh RSA-2048 key (keyword options as for the constructor)."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), **options)

    @classmethod
    def from_pem(
        cls, pem: str | bytes, *, password: bytes | None = None, **options: Any
    ) -> TokenIssuer:
        """An issuer from a PEM private key, as written by `tenantkit keys generate`."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            raise ValueError("not a PEM private key (or the password is wrong)") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the PEM key is not an RSA key")
        return cls(key, **options)

    @property
    def private_key_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM; store it like a password."""
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    @property
    def public_key_pem(self) -> str:
        """The public key as PEM (PropelAuth's `verifier_key_pem` / `public_key_pem`)."""
        return (
            self._private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWK set, for a JWKS endpoint or `TokenVerifier(jwks=...)`."""
        jwk = _public_jwk(self._private_key.public_key())
        return {"keys": [{**jwk, "kid": self.kid, "alg": _ALGORITHM, "use": "sig"}]}

    def issue(
        self,
        *,
        user_id: str,
        email: str | None = None,
        orgs: Iterable[OrgMemberInfo] = (),
        active_org_id: str | None = None,
        lifetime: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        properties: Mapping[str, Any] | None = None,
        legacy_user_id: str | None = None,
        impersonator_user_id: str | None = None,
        login_method: LoginMethod | None = None,
    ) -> str:
        """A PropelAuth-shaped access token; `active_org_id` must be one of `orgs`."""
        by_id: dict[str, OrgMemberInfo] = {}
        for org in orgs:
            if org.org_id in by_id:
                raise ValueError(f"org {org.org_id} is listed twice")
            by_id[org.org_id] = org
        user: dict[str, Any] = {
            "user_id": user_id,
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "properties": dict(properties) if properties is not None else None,
            "legacy_user_id": legacy_user_id,
            "impersonator_user_id": impersonator_user_id,
        }
        claims = {name: value for name, value in user.items() if value is not None}
        if login_method is not None:
            claims["login_method"] = login_method.to_claims()
        if active_org_id is None:
            claims["org_id_to_org_member_info"] = {
                org_id: org.to_claims() for org_id, org in by_id.items()
            }
        elif active_org_id in by_id:
            claims["org_member_info"] = by_id[active_org_id].to_claims()
        else:
            raise ValueError("active_org_id must be the org_id of one of orgs")

        lifetime = self.lifetime if lifetime is None else lifetime
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        now = int(self._clock())
        claims.update(iss=self.issuer, iat=now, exp=now + lifetime)
        if self.audience is not None:
            claims["aud"] = self.audience
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Sign `claims` exactly as given (no `iss`/`iat`/`exp` added) with RS256 and this kid."""
        header = {"kid": self.kid, **(headers or {})}
        if "alg" in header:
            raise ValueError("the algorithm is always RS256")
        return jwt.encode(dict(claims), self._private_key, algorithm=_ALGORITHM, headers=header)
