"""Building tokens by hand, including malformed and forged ones, for the token tests."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt

ISSUER = "https://auth.example.com"
NOW = 1_760_000_000
USER = "31c41c16-c281-44ae-9602-8a047e3bf33d"
ORG = "1189c444-8a2d-4c41-8b4b-ae43ce79a492"
OTHER_ORG = "5c0d3b7e-6f0a-4c7e-9d4b-2f1e8a9b7c61"


class FakeClock:
    """A settable clock; call it for the current time."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def to_json(value: dict[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def forge(
    header: dict[str, Any] | bytes,
    payload: dict[str, Any] | bytes,
    key: Any = None,
    *,
    alg: str = "RS256",
    signature: bytes | None = None,
) -> str:
    """A compact JWS over exactly these header and payload bytes (duplicate keys allowed)."""
    signing_input = f"{b64(to_json(header))}.{b64(to_json(payload))}"
    if signature is None:
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def org_entry(org_id: Any = ORG, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "org_id": org_id,
        "org_name": "Acme Inc",
        "url_safe_org_name": "acme-inc",
        "org_metadata": {"tier": "enterprise"},
        "user_role": "Admin",
        "inherited_user_roles_plus_current_role": ["Admin", "Member"],
        "user_permissions": ["read", "write"],
        "org_role_structure": "single_role_in_hierarchy",
        "additional_roles": [],
        "legacy_org_id": None,
    }
    entry.update(overrides)
    return entry


def propelauth_claims(**overrides: Any) -> dict[str, Any]:
    """A valid PropelAuth-shaped payload at `NOW`; keyword overrides replace claims."""
    claims: dict[str, Any] = {
        "user_id": USER,
        "email": "ada@example.com",
        "org_id_to_org_member_info": {ORG: org_entry()},
        "iss": ISSUER,
        "iat": NOW,
        "exp": NOW + 600,
    }
    claims.update(overrides)
    return claims
