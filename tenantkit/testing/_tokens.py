"""pytest fixtures for tests that need real signed tokens (no database involved).

- `token_issuer` (session): a `TokenIssuer` with a fresh RSA-2048 key;
- `token_verifier`: a `TokenVerifier` for it, with a fresh verified-token cache.

    def test_admin_only(token_issuer, token_verifier):
        token = token_issuer.issue(user_id=USER, orgs=[OrgMemberInfo(ORG, "Admin")])
        principal = token_verifier.verify(token)
"""

from __future__ import annotations

import pytest

from tenantkit.tokens import TokenIssuer, TokenVerifier

__all__ = ["token_issuer", "token_verifier"]

#: The `iss` of fixture tokens; never a real deployment's.
TEST_ISSUER = "https://auth.tenantkit.test"


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """An issuer with a fresh RSA-2048 key, shared by the whole run."""
    return TokenIssuer.generate(issuer=TEST_ISSUER)


@pytest.fixture
def token_verifier(token_issuer: TokenIssuer) -> TokenVerifier:
    """A verifier that accepts `token_issuer`'s tokens."""
    return TokenVerifier.for_issuer(token_issuer)
