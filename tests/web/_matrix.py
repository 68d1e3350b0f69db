"""The 401/403 matrix shared by the ASGI, FastAPI and Flask suites.

Each caller asks for org ORG; the expected status follows from the caller and
the requirement (see `_support.REQUIREMENTS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tenantkit.tokens import TokenIssuer
from tests.web._support import REQUIREMENTS, mint, new_id

ORG = new_id()
OTHER_ORG = new_id()
USER = new_id()

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Caller:
    name: str
    headers: Callable[[TokenIssuer], Headers]
    role: str | None = None  # role in ORG; None: not a member
    unauthenticated: bool = False


def _token_headers(orgs: dict[str, str]) -> Callable[[TokenIssuer], Headers]:
    return lambda issuer: [("Authorization", f"Bearer {mint(issuer, USER, orgs)}")]


def _forged(issuer: TokenIssuer) -> Headers:
    # Same iss and claims, signed by a key the verifier does not trust.
    other = TokenIssuer.generate(issuer=issuer.issuer)
    return [("Authorization", f"Bearer {mint(other, USER, {ORG: 'Owner'})}")]


def _expired(issuer: TokenIssuer) -> Headers:
    past = TokenIssuer.from_pem(
        issuer.private_key_pem, issuer=issuer.issuer, clock=lambda: time.time() - 7200
    )
    return [("Authorization", f"Bearer {mint(past, USER, {ORG: 'Owner'})}")]


def _two_headers(issuer: TokenIssuer) -> Headers:
    token = mint(issuer, USER, {ORG: "Owner"})
    return [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]


CALLERS = [
    Caller("owner", _token_headers({ORG: "Owner"}), role="Owner"),
    Caller("admin", _token_headers({ORG: "Admin", OTHER_ORG: "Member"}), role="Admin"),
    Caller("member", _token_headers({ORG: "Member"}), role="Member"),
    Caller("admin-of-another-org", _token_headers({OTHER_ORG: "Admin"})),
    Caller("no-orgs", _token_headers({})),
    Caller("no-token", lambda issuer: [], unauthenticated=True),
    Caller(
        "basic-scheme",
        lambda issuer: [("Authorization", "Basic dXNlcjpwdw==")],
        unauthenticated=True,
    ),
    Caller("empty-bearer", lambda issuer: [("Authorization", "Bearer ")], unauthenticated=True),
    Caller(
        "garbage-token", lambda issuer: [("Authorization", "Bearer a.b.c")], unauthenticated=True
    ),
    Caller("forged", _forged, unauthenticated=True),
    Caller("expired", _expired, unauthenticated=True),
    Caller("two-authorization-headers", _two_headers, unauthenticated=True),
]


def expected_status(requirement: str, caller: Caller) -> int:
    if caller.unauthenticated:
        return 401
    allowed = REQUIREMENTS[requirement][1]
    return 200 if caller.role in allowed else 403


CASES = [(r, c) for r in REQUIREMENTS for c in CALLERS]
CASE_IDS = [f"{r}-{c.name}" for r, c in CASES]
