"""tenantkit's documented extensions: org API keys, feature flags, the audit log, domains."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tenantkit.orgs import PageRequest
from tenantkit.orgs.dns import txt_values
from tenantkit.server import _schemas as s
from tenantkit.server._deps import ApiDep
from tenantkit.server._errors import ERROR_RESPONSES
from tenantkit.server._params import ApiKeyId, OrgId
from tenantkit.server._wire import OMIT_UNSET
from tenantkit.tokens import bearer_token

router = APIRouter(prefix="/api/backend/v1", tags=["extensions"], responses=ERROR_RESPONSES)


# --- org API keys (PropelAuth's end_user_api_keys paths) -------------------------


@router.post("/end_user_api_keys", response_model=s.CreatedApiKey,
             summary="Create an org API key (the token is shown once)")
def create_api_key(body: s.CreateApiKey, api: ApiDep) -> s.CreatedApiKey:
    expires = (datetime.fromtimestamp(body.expires_at_seconds, UTC)
               if body.expires_at_seconds is not None else None)
    with api.management() as m:
        created = m.api_keys.create(kind="org", org_id=body.org_id, name=body.display_name,
                                    permissions=body.permissions, metadata=body.metadata,
                                    expires_at=expires)
    return s.CreatedApiKey.from_record(created.api_key, api_key_token=created.secret)


@router.get("/end_user_api_keys", response_model=s.ApiKeysPage, summary="List org API keys")
def list_api_keys(
    api: ApiDep,
    org_id: str | None = None,
    archived: bool = False,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> s.ApiKeysPage:
    with api.management() as m:
        page = m.api_keys.list(org_id=org_id, kind="org", archived=archived,
                               page=PageRequest(page_size, page_number))
    return s.ApiKeysPage.from_record(page)


@router.post("/end_user_api_keys/validate", response_model=s.ValidatedApiKey,
             summary="Validate an org API key: its org and permissions (401 if invalid)")
def validate_api_key(body: s.ValidateApiKey, api: ApiDep) -> s.ValidatedApiKey:
    raw = body.api_key_token.strip()
    # "Bearer <key>" (as PropelAuth accepts) goes through the one bearer parser.
    token = bearer_token(raw, credential="API key") if " " in raw else raw
    with api.management() as m:
        valid = m.api_keys.validate(token, kind="org")
    return s.ValidatedApiKey.from_record(valid.api_key, org=valid.org)


@router.delete("/end_user_api_keys/{api_key_id}", response_model=s.Ok,
               summary="Archive an API key")
def archive_api_key(api_key_id: ApiKeyId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.api_keys.archive(api_key_id)
    return s.Ok()


# --- feature flags -------------------------------------------------------------------


@router.get("/org/{org_id}/feature_flags", response_model=s.FeatureFlags,
            summary="An org's feature flags")
def list_flags(org_id: OrgId, api: ApiDep) -> s.FeatureFlags:
    with api.management() as m:
        flags = m.feature_flags.list(org_id)
    return s.FeatureFlags(feature_flags=[s.FeatureFlag.from_record(f) for f in flags])


@router.get("/org/{org_id}/feature_flags/{name}", response_model=s.FeatureFlag,
            summary="Check one flag (an unset flag is disabled)")
def check_flag(org_id: OrgId, name: str, api: ApiDep) -> s.FeatureFlag:
    with api.management() as m:
        m.orgs.fetch(org_id)  # 404 for an unknown org, not a silently disabled flag
        for flag in m.feature_flags.list(org_id):
            if flag.name == name:
                return s.FeatureFlag.from_record(flag)
        enabled = m.feature_flags.is_enabled(org_id, name)
    return s.FeatureFlag(org_id=org_id, name=name, enabled=enabled, value=None, updated_at=None)


@router.put("/org/{org_id}/feature_flags/{name}", response_model=s.FeatureFlag,
            summary="Set a flag")
def set_flag(org_id: OrgId, name: str, body: s.SetFeatureFlag, api: ApiDep) -> s.FeatureFlag:
    with api.management() as m:
        return s.FeatureFlag.from_record(
            m.feature_flags.set(org_id, name, enabled=body.enabled, value=body.value))


@router.delete("/org/{org_id}/feature_flags/{name}", response_model=s.Ok,
               summary="Remove a flag")
def remove_flag(org_id: OrgId, name: str, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.feature_flags.remove(org_id, name)
    return s.Ok()


# --- audit log ------------------------------------------------------------------------


@router.get("/org/{org_id}/audit_log", response_model=s.AuditLogPage,
            summary="An org's audit log, newest first")
def audit_log(
    org_id: OrgId,
    api: ApiDep,
    action: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> s.AuditLogPage:
    with api.management() as m:
        m.orgs.fetch(org_id)
        page = m.audit_log.list(org_id, action=action, page=PageRequest(page_size, page_number))
    return s.AuditLogPage.from_record(page)


# --- domains --------------------------------------------------------------------------


@router.post("/org/{org_id}/domains", response_model=s.Org, **OMIT_UNSET, summary="Add a domain")
def add_domain(org_id: OrgId, body: s.AddDomain, api: ApiDep) -> s.Org:
    with api.management() as m:
        return s.Org.from_record(m.domains.add(org_id, body.domain))


@router.delete("/org/{org_id}/domains/{domain}", response_model=s.Org, **OMIT_UNSET,
               summary="Remove a domain")
def remove_domain(org_id: OrgId, domain: str, api: ApiDep) -> s.Org:
    with api.management() as m:
        return s.Org.from_record(m.domains.remove(org_id, domain))


@router.post("/org/{org_id}/domain_verifications", response_model=s.DomainVerification,
             status_code=201, summary="Ask for a domain: pending until its TXT record shows")
def request_domain_verification(org_id: OrgId, body: s.AddDomain,
                                api: ApiDep) -> s.DomainVerification:
    with api.management() as m:
        return s.DomainVerification.of(m.domains.request_verification(org_id, body.domain))


@router.post("/org/{org_id}/domain_verifications/{domain}/verify",
             response_model=s.DomainVerification,
             summary="Check the domain's DNS TXT record; verified domains join the org's domains")
def verify_domain(org_id: OrgId, domain: Annotated[str, Path(max_length=253)],
                  request: Request, api: ApiDep) -> s.DomainVerification:
    with api.management() as m:
        pending = m.domains.verification(org_id, domain)
    # The lookup waits on the network: outside any transaction.
    values = [] if pending.state == "verified" else txt_values(
        pending.domain, request.app.state.tenantkit.dns_resolver)
    with api.management() as m:
        return s.DomainVerification.of(m.domains.confirm(org_id, pending.domain, values))
