"""Access tokens and token verification metadata (PropelAuth's paths)."""

from __future__ import annotations

from fastapi import APIRouter

from tenantkit.errors import FeatureDisabled, Forbidden, InvalidField, NotFound
from tenantkit.server import _schemas as s
from tenantkit.server._deps import Api, ApiDep
from tenantkit.server._errors import ERROR_RESPONSES
from tenantkit.tokens import LoginMethod, TokenIssuer

router = APIRouter(tags=["tokens"], responses=ERROR_RESPONSES)


def _issuer(api: Api) -> TokenIssuer:
    if api.state.issuer is None:
        raise FeatureDisabled("this server issues no tokens: start it with a signing key")
    return api.state.issuer


@router.post("/api/backend/v1/access_token", response_model=s.AccessToken,
             summary="Mint an access token for a user")
def access_token(body: s.CreateAccessToken, api: ApiDep) -> s.AccessToken:
    issuer = _issuer(api)
    with api.management() as m:
        try:
            user = m.users.fetch(body.user_id, include_orgs=True)
        except NotFound:
            # PropelAuth answers 403 here; its clients map that to UserNotFoundException.
            raise Forbidden("user not found") from None
    if not user.enabled or user.locked:
        raise Forbidden("the user is disabled or locked")
    orgs = user.orgs or ()
    if body.active_org_id is not None and body.active_org_id not in {o.org_id for o in orgs}:
        raise InvalidField("active_org_id", "the user is not an active member of this org")
    token = issuer.issue(
        user_id=user.user_id, email=user.email, orgs=orgs, active_org_id=body.active_org_id,
        lifetime=body.duration_in_minutes * 60, first_name=user.first_name,
        last_name=user.last_name, username=user.username, properties=user.properties,
        legacy_user_id=user.legacy_user_id,
        login_method=LoginMethod("generated_from_backend_api"),
    )
    return s.AccessToken(access_token=token)


@router.get("/api/v1/token_verification_metadata", response_model=s.VerifierKey,
            summary="The token verification key (propelauth-py, node)")
def verifier_key(api: ApiDep) -> s.VerifierKey:
    issuer = _issuer(api)
    return s.VerifierKey(verifier_key_pem=issuer.public_key_pem, issuer=issuer.issuer)


@router.get("/api/backend/v1/token_verification_metadata", response_model=s.PublicKey,
            summary="The token verification key (PropelAuth rust)")
def public_key(api: ApiDep) -> s.PublicKey:
    issuer = _issuer(api)
    return s.PublicKey(public_key_pem=issuer.public_key_pem, issuer=issuer.issuer)
