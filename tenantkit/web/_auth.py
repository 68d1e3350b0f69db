"""The steps every web adapter runs, in this order, before any database work:

1. `bearer_token`: the Authorization header to a token (401 when missing or malformed),
   or, with `ApiKeyCredentials`, an org API key's secret (`tenantkit.web.api_keys`);
2. `Verifier.verify` (a `TokenVerifier`, or one that also maps a provider's
   ids; `verify_async` in the async adapters, so a key fetch
   never holds the event loop): the token to a `Principal` (401); or
   `ApiKeyVerifier.verify_api_key`: the key to an `ApiKeyPrincipal` (401);
3. the org extractors: the one org the request names (400 when a value is
   repeated or not a UUID, or when two sources name different orgs);
4. a `Requirement`: the caller's membership in that org (403);
5. a `TenantContext(user_id, org_id)` to bind for the request
   (`TenantContext.for_api_key(api_key_id, org_id)` for a key).

`RequestAuth` is the outcome; the ASGI middleware stores it in the scope, the
Flask extension in `flask.g`. Nothing here imports a web framework.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantkit.context import TenantContext
from tenantkit.errors import Forbidden
from tenantkit.tokens import ApiKeyPrincipal, OrgMemberInfo, Principal, Verifier, bearer_token
from tenantkit.web._requirements import Requirement, UserAndOrgMemberInfo
from tenantkit.web.api_keys import ApiKeyCredentials, Credentials

__all__ = [
    "SCOPE_KEY",
    "RequestAuth",
    "authenticate",
    "authenticate_async",
    "authorize",
    "bearer_token",
]

#: Where the ASGI middleware leaves the `RequestAuth` in the scope.
SCOPE_KEY = "tenantkit.auth"

_MEMBER = Requirement.member()


def authenticate(
    verifier: Verifier,
    authorization: str | Credentials | None,
    *,
    optional: bool = False,
    api_keys: ApiKeyCredentials | None = None,
) -> Principal | None:
    """The verified principal; with `optional`, None when the header is absent.

    A header that is present but wrong is always `Unauthorized`, optional or not:
    a client sending a bad token should hear so, not be served anonymously.
    `authorization` is the header, or the `Credentials` `read_credentials` found
    (an org API key's secret goes to `api_keys.verifier`).
    """
    found = authorization if isinstance(authorization, Credentials) else None
    if found is not None and found.api_key is not None:
        return _key_verifier(api_keys).verifier.verify_api_key(found.api_key)
    header = found.authorization if found is not None else authorization
    assert not isinstance(header, Credentials)
    if optional and header is None:
        return None
    return verifier.verify(bearer_token(header))


async def authenticate_async(
    verifier: Verifier,
    authorization: str | Credentials | None,
    *,
    optional: bool = False,
    api_keys: ApiKeyCredentials | None = None,
) -> Principal | None:
    """`authenticate` for the async adapters: a key fetch is awaited off the event loop."""
    found = authorization if isinstance(authorization, Credentials) else None
    if found is not None and found.api_key is not None:
        return await _key_verifier(api_keys).verifier.verify_api_key_async(found.api_key)
    header = found.authorization if found is not None else authorization
    assert not isinstance(header, Credentials)
    if optional and header is None:
        return None
    return await verifier.verify_async(bearer_token(header))


def _key_verifier(api_keys: ApiKeyCredentials | None) -> ApiKeyCredentials:
    if api_keys is None:
        raise TypeError("an API key credential needs api_keys= (ApiKeyCredentials)")
    return api_keys


@dataclass(frozen=True, slots=True)
class RequestAuth:
    """Who the request is from and which org it acts in, once checked.

    `context` is None when the request named no org (or was anonymous): nothing
    is bound, and a tenantkit session sees no tenant rows.
    """

    principal: Principal | None
    org_id: str | None = None
    org_member_info: OrgMemberInfo | None = None
    context: TenantContext | None = None

    def user_and_org(self) -> UserAndOrgMemberInfo | None:
        """The principal and their membership, when an org was checked."""
        if self.principal is None or self.org_member_info is None:
            return None
        return UserAndOrgMemberInfo(self.principal, self.org_member_info)


def authorize(
    principal: Principal | None, org_id: str | None, requirement: Requirement | None
) -> RequestAuth:
    """Check the requirement in `org_id` and build the context to bind.

    No org and no explicit requirement: authenticated only, nothing bound. An org
    without a requirement still demands membership; a requirement without an org
    is `Forbidden` ("required org is unspecified"), as in PropelAuth. The context
    binds exactly `org_id`, the org the requirement was checked in.
    """
    if org_id is None and requirement is None:
        return RequestAuth(principal)
    member_info = (requirement or _MEMBER).check(principal, org_id)
    assert principal is not None  # check() raised Unauthorized otherwise
    assert org_id is not None  # and Forbidden ("required org is unspecified")
    if member_info.org_id != org_id:
        # A principal whose membership record names another org than its key
        # (the token verifier refuses such claims; a hand-built one might not).
        raise Forbidden("user is not a member of this org")
    if isinstance(principal, ApiKeyPrincipal):
        # The key principal: its id is bound, never its secret, and never as a user.
        context = TenantContext.for_api_key(principal.api_key_id, org_id)
    else:
        context = TenantContext(principal.user_id, org_id)
    return RequestAuth(principal, org_id, member_info, context)
