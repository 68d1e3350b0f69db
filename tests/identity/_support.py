"""Seeded orgs linked to provider ids, and provider-shaped tokens, for the identity tests."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WORKOS_ISSUER = "https://api.workos.com/user_management/client_01HTEST"


def workos_id(prefix: str) -> str:
    """A fresh WorkOS-shaped id: `user_…` / `org_…` and a 26-character ULID."""
    return prefix + "_" + "".join(secrets.choice(CROCKFORD) for _ in range(26))


@dataclass(frozen=True)
class Linked:
    """A seed whose users and orgs have WorkOS ids (tenantkit id -> WorkOS id)."""

    seed: TwoOrgs
    ids: dict[str, str]

    def of(self, tenantkit_id: str) -> str:
        return self.ids[tenantkit_id]


def link_workos(service_engine: Engine, seed: TwoOrgs, provider: str = "workos") -> Linked:
    """Give every seeded user a `user_identities` row and each org an `external_id`."""
    ids: dict[str, str] = {}
    users = [
        *(u for org in (seed.a, seed.b) for u in (org.owner_id, org.admin_id, org.member_id)),
        seed.shared_user_id,
    ]
    with service_engine.begin() as conn:
        for org in (seed.a, seed.b):
            ids[org.org_id] = workos_id("org")
            conn.execute(
                text("UPDATE tenantkit.orgs SET external_id = :e WHERE org_id = :o"),
                {"e": ids[org.org_id], "o": org.org_id},
            )
        for user_id in users:
            ids[user_id] = workos_id("user")
            conn.execute(
                text(
                    "INSERT INTO tenantkit.user_identities (provider, external_id, user_id)"
                    " VALUES (:p, :e, :u)"
                ),
                {"p": provider, "e": ids[user_id], "u": user_id},
            )
    return Linked(seed, ids)


def workos_token(
    issuer: TokenIssuer, user: str, org: str | None, role: str = "member", **extra: Any
) -> str:
    """An AuthKit access token as WorkOS documents it (sub, org_id, role, permissions)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": WORKOS_ISSUER,
        "sub": user,
        "sid": "session_01HQSXZGF8FHF7A9ZZFCW4387R",
        "jti": workos_id("jti"),
        "iat": now,
        "exp": now + 300,
        **extra,
    }
    if org is not None:
        claims.update(org_id=org, role=role, roles=[role], permissions=["notes:read"])
    return issuer.sign(claims)
