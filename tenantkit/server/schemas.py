"""Wire shapes of the backend API (pydantic), named as PropelAuth names them.

Requests forbid unknown keys, so a typo is a 400 naming the field rather than
a silently ignored change. Timestamps in responses are Unix seconds, as in
PropelAuth; ids are lowercase UUIDs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Json = dict[str, Any]
#: A UUID as tenantkit hands them out (lowercase); upper case is accepted on input.
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Id = Annotated[str, Field(pattern=UUID_PATTERN, examples=["1189c444-8a2d-4c41-8b4b-ae43ce79a492"])]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors and plain replies ---------------------------------------------------


class ErrorBody(Response):
    error: str
    message: str
    fields: dict[str, str] | None = None


class Ok(Response):
    """An empty JSON object: PropelAuth clients parse every body as JSON."""


# --- orgs --------------------------------------------------------------------------


class CreateOrg(Request):
    name: str
    enable_auto_joining_by_domain: bool = False
    members_must_have_matching_domain: bool = False
    domain: str | None = None
    extra_domains: list[str] | None = None
    max_users: int | None = None
    custom_role_mapping_name: str | None = None
    legacy_org_id: str | None = None
    external_id: str | None = None
    metadata: Json | None = None
    isolated: bool = False


class UpdateOrg(Request):
    name: str | None = None
    can_setup_saml: bool | None = None
    metadata: Json | None = None
    max_users: int | None = None
    autojoin_by_domain: bool | None = None
    restrict_to_domain: bool | None = None
    domain: str | None = None
    extra_domains: list[str] | None = None
    legacy_org_id: str | None = None
    external_id: str | None = None
    require_2fa_by: datetime | None = None
    custom_role_mapping_name: str | None = None
    password_rotation_enabled: bool | None = None
    password_rotation_history_size: int | None = None
    password_rotation_period: int | None = None


class Org(Response):
    org_id: str
    name: str
    org_name: str
    url_safe_org_name: str
    url_safe_org_slug: str
    metadata: Json
    max_users: int | None
    domain: str | None
    extra_domains: list[str]
    domain_autojoin: bool
    domain_restrict: bool
    autojoin_by_domain: bool
    restrict_to_domain: bool
    custom_role_mapping_name: str | None
    legacy_org_id: str | None
    external_id: str | None
    can_setup_saml: bool
    is_saml_configured: bool
    is_saml_in_test_mode: bool
    require_2fa_by: int | None
    isolated: bool
    password_rotation_enabled: bool
    password_rotation_history_size: int | None
    password_rotation_period: int | None
    created_at: int
    updated_at: int


OrgOrderBy = Literal["CREATED_AT_ASC", "CREATED_AT_DESC", "NAME"]


class OrgQuery(Request):
    page_size: int = Field(10, ge=1, le=100)
    page_number: int = Field(0, ge=0, le=100_000)
    order_by: OrgOrderBy = "CREATED_AT_ASC"
    name: str | None = None
    legacy_org_id: str | None = None
    domain: str | None = None


class OrgQueryResult(Response):
    orgs: list[Org]
    total_orgs: int
    current_page: int
    page_size: int
    has_more_results: bool


# --- members --------------------------------------------------------------------


class MemberChange(Request):
    user_id: Id
    org_id: Id
    role: str
    additional_roles: list[str] = []


class MemberRef(Request):
    user_id: Id
    org_id: Id


class OrgMemberInfo(Response):
    org_id: str
    org_name: str | None
    url_safe_org_name: str | None
    org_metadata: Json
    user_role: str
    inherited_user_roles_plus_current_role: list[str]
    user_permissions: list[str]
    org_role_structure: str
    additional_roles: list[str]
    legacy_org_id: str | None


class UserMetadata(Response):
    user_id: str
    email: str
    email_confirmed: bool
    has_password: bool
    username: str | None
    first_name: str | None
    last_name: str | None
    picture_url: str | None
    locked: bool
    enabled: bool
    mfa_enabled: bool
    can_create_orgs: bool
    created_at: int
    last_active_at: int | None
    legacy_user_id: str | None
    impersonator_user_id: str | None
    metadata: Json
    properties: Json
    isolated_org_id: str | None
    org_id_to_org_info: dict[str, OrgMemberInfo] | None = None
    role_in_org: str | None = None
    additional_roles_in_org: list[str] | None = None


class UsersPage(Response):
    users: list[UserMetadata]
    total_users: int
    current_page: int
    page_size: int
    has_more_results: bool


# --- users ---------------------------------------------------------------------------


class CreateUser(Request):
    email: str
    email_confirmed: bool = False
    send_email_to_confirm_email_address: bool = False
    ask_user_to_update_password_on_login: bool = False
    ignore_domain_restrictions: bool = False
    password: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    picture_url: str | None = None
    properties: Json | None = None
    metadata: Json | None = None
    legacy_user_id: str | None = None
    isolated_org_id: str | None = None


class CreatedUser(Response):
    user_id: str


class UpdateUser(Request):
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    picture_url: str | None = None
    metadata: Json | None = None
    properties: Json | None = None
    legacy_user_id: str | None = None
    update_password_required: bool | None = None


class UpdateEmail(Request):
    new_email: str
    require_email_confirmation: bool = True


class UserIds(Request):
    user_ids: list[Id] = Field(max_length=100)


class Emails(Request):
    emails: list[str] = Field(max_length=100)


class Usernames(Request):
    usernames: list[str] = Field(max_length=100)


# --- invites ---------------------------------------------------------------------


class InviteByEmail(Request):
    email: str
    org_id: Id
    role: str
    additional_roles: list[str] = []
    expires_in_days: int = Field(7, ge=1, le=90)


class InviteById(Request):
    user_id: Id
    org_id: Id
    role: str
    additional_roles: list[str] = []
    expires_in_days: int = Field(7, ge=1, le=90)


class CreatedInvite(Response):
    invite_id: str
    org_id: str
    invitee_email: str
    token: str
    expires_at: int


class PendingInvite(Response):
    invite_id: str
    invitee_email: str
    org_id: str
    org_name: str
    role_in_org: str
    additional_roles_in_org: list[str]
    created_at: int
    expires_at: int
    inviter_email: str | None
    inviter_user_id: str | None


class PendingInvitesPage(Response):
    invites: list[PendingInvite]
    total_invites: int
    current_page: int
    page_size: int
    has_more_results: bool


class RevokeInvite(Request):
    org_id: Id
    invitee_email: str


class AcceptInvite(Request):
    token: str
    user_id: Id | None = None


class AcceptedInvite(Response):
    org_id: str
    user_id: str


# --- role mappings -----------------------------------------------------------------


class RoleIn(Request):
    name: str
    permissions: list[str] = []
    is_internal: bool = False
    is_visible_to_end_user: bool = True


class CreateRoleMapping(Request):
    custom_role_mapping_name: str
    roles: list[RoleIn] = Field(min_length=1, max_length=50)
    multi_role: bool = False


class RoleOut(Response):
    name: str
    rank: int
    permissions: list[str]
    is_internal: bool
    is_visible_to_end_user: bool


class CustomRoleMapping(Response):
    custom_role_mapping_name: str
    num_orgs_subscribed: int
    is_default: bool
    org_role_structure: str
    roles: list[RoleOut]


class CustomRoleMappings(Response):
    custom_role_mappings: list[CustomRoleMapping]


# --- tokens ----------------------------------------------------------------------------


class CreateAccessToken(Request):
    user_id: Id
    duration_in_minutes: int = Field(ge=1, le=60 * 24 * 30)
    active_org_id: Id | None = None


class AccessToken(Response):
    access_token: str


class VerifierKey(Response):
    verifier_key_pem: str
    issuer: str


class PublicKey(Response):
    public_key_pem: str
    issuer: str


# --- API keys, flags, audit, domains -----------------------------------------------------


class CreateApiKey(Request):
    org_id: Id | None = None
    display_name: str = ""
    permissions: list[str] = []
    metadata: Json | None = None
    expires_at_seconds: int | None = Field(None, ge=0, le=253_402_300_799)


class CreatedApiKey(Response):
    api_key_id: str
    api_key_token: str


class ApiKey(Response):
    api_key_id: str
    org_id: str | None
    display_name: str
    prefix: str
    permissions: list[str]
    metadata: Json
    created_at: int
    expires_at_seconds: int | None
    last_used_at: int | None
    archived_at: int | None


class ApiKeysPage(Response):
    api_keys: list[ApiKey]
    total_api_keys: int
    current_page: int
    page_size: int
    has_more_results: bool


class ValidateApiKey(Request):
    api_key_token: str


class ValidatedApiKey(Response):
    api_key_id: str
    metadata: Json
    permissions: list[str]
    org: Org | None
    user: None = None


class FeatureFlag(Response):
    org_id: str
    name: str
    enabled: bool
    value: Any = None
    updated_at: int | None


class FeatureFlags(Response):
    feature_flags: list[FeatureFlag]


class SetFeatureFlag(Request):
    enabled: bool = True
    value: Any = None


class AuditEvent(Response):
    audit_id: int
    org_id: str | None
    action: str
    actor_kind: str
    actor_user_id: str | None
    target_type: str | None
    target_id: str | None
    metadata: Json
    occurred_at: int


class AuditLogPage(Response):
    events: list[AuditEvent]
    total_events: int
    current_page: int
    page_size: int
    has_more_results: bool


class AddDomain(Request):
    domain: str

