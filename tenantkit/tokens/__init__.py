"""Access tokens: verifying them, the principal they describe, their keys, and issuing them.

    verifier = TokenVerifier.for_propelauth("https://auth.example.com", PEM)
    principal = verifier.verify(token)           # or: await verifier.verify_async(token)

One module per question:
- `verifier`: is this token valid? (`TokenVerifier`, strict parsing and claims);
- `protocol`: what the web adapters accept instead (`Verifier`, any class with `verify`);
- `apikey`: an org API key as the caller (`ApiKeyPrincipal`, `ApiKeyVerifier`);
- `providers`: claim adapters for Auth0, Clerk, Keycloak and Supabase Auth;
- `claims`: which principal does a verified payload describe? (PropelAuth, WorkOS);
- `principal`: who is the caller? (`Principal`, `OrgMemberInfo`, PropelAuth's checks);
- `jwks`: which key verifies it? (`KeySet`, `JwksClient`, fetched off the event loop);
- `cache`: was it verified already? (`VerifiedTokenCache`);
- `issuer`: signing tokens for self-hosting, the demo and tests (`TokenIssuer`);
- `bearer`: the token in an `Authorization: Bearer` header;
- `cli`: `tenantkit keys …` and `tenantkit token` (imported only by the command line).

Nothing here imports a database driver, an ORM or a web framework.
"""

from tenantkit.tokens._bearer import bearer_token
from tenantkit.tokens._cache import VerifiedTokenCache
from tenantkit.tokens._claims import (
    WORKOS_ID_PATTERN,
    ClaimsAdapter,
    PropelAuthClaims,
    WorkOSClaims,
)
from tenantkit.tokens._jwks import JwksClient, KeySet, KeySource, VerificationKey
from tenantkit.tokens._protocol import Verifier
from tenantkit.tokens._providers import Auth0Claims, ClerkClaims, KeycloakClaims, SupabaseClaims
from tenantkit.tokens._verifier import TokenVerifier
from tenantkit.tokens.apikey import ORG_KEY_PREFIX, ApiKeyPrincipal, ApiKeyVerifier
from tenantkit.tokens.issuer import TokenIssuer
from tenantkit.tokens.principal import (
    MULTI_ROLE,
    SINGLE_ROLE_IN_HIERARCHY,
    LoginMethod,
    OrgMemberInfo,
    Principal,
)

__all__ = [
    "MULTI_ROLE",
    "ORG_KEY_PREFIX",
    "SINGLE_ROLE_IN_HIERARCHY",
    "WORKOS_ID_PATTERN",
    "ApiKeyPrincipal",
    "ApiKeyVerifier",
    "Auth0Claims",
    "ClaimsAdapter",
    "ClerkClaims",
    "JwksClient",
    "KeySet",
    "KeySource",
    "KeycloakClaims",
    "LoginMethod",
    "OrgMemberInfo",
    "Principal",
    "PropelAuthClaims",
    "SupabaseClaims",
    "TokenIssuer",
    "TokenVerifier",
    "VerificationKey",
    "VerifiedTokenCache",
    "Verifier",
    "WorkOSClaims",
    "bearer_token",
]
