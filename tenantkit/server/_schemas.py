"""Wire shapes of the backend API (pydantic), named as PropelAuth names them.

One representation: every response is a model built from the service's records
(`Model.from_record(record)`, see `tenantkit.server._wire`). The org and user
shapes are generated from the records' dataclasses (`tenantkit.orgs.models`):
the org's fields, which of them an update takes, and how creation is called are
each defined once, in the orgs service, and read off it here.

Requests forbid unknown keys, so a typo is a 400 naming the field rather than
a silently ignored change. Timestamps in responses are Unix seconds, as in
PropelAuth; ids are lowercase UUIDs.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, get_type_hints

from fastapi import Query
from pydantic import Field

from tenantkit.context import UUID_ANY_CASE
from tenantkit.orgs import CursorRequest, OrgOrder, Orgs, models
from tenantkit.orgs.dns import txt_name
from tenantkit.server._wire import (
    FromRecord,
    Request,
    Response,
    record_model,
    request_model,
    signature_fields,
)

Json = dict[str, Any]
#: A UUID as tenantkit hands them out (lowercase); upper case is accepted on input.
UUID_PATTERN = f"^{UUID_ANY_CASE}$"
Id = Annotated[str, Field(pattern=UUID_PATTERN, examples=["1189c444-8a2d-4c41-8b4b-ae43ce79a492"])]


# --- errors and plain replies ---------------------------------------------------


class ErrorBody(Response):
    error: str
    message: str
    fields: dict[str, str] | None = None


class Ok(Response):
    """An empty JSON object: PropelAuth clients parse every body as JSON."""


class Paged(FromRecord):
    """PropelAuth's paging envelope, read off one `Page` of records."""

    renamed: ClassVar = {"current_page": "page_number", "has_more_results": "has_more"}

    current_page: int
    page_size: int
    has_more_results: bool


def _paging(items: str, total: str) -> dict[str, str]:
    """The `renamed` of a page whose items and total carry these wire names."""
    return {**Paged.renamed, items: "items", total: "total"}


# --- orgs --------------------------------------------------------------------------

#: PropelAuth's names for two org fields in an update; a response carries both names.
ORG_UPDATE_NAMES: Final = {"domain_autojoin": "autojoin_by_domain",
                           "domain_restrict": "restrict_to_domain"}
#: Updatable org fields PropelAuth's update does not take (a SAML connection sets them).
_NOT_IN_UPDATE_ORG: Final = frozenset({"is_saml_configured", "is_saml_in_test_mode"})
#: PropelAuth's password rotation settings: tenantkit stores no passwords.
_PASSWORD_ROTATION: Final = {"password_rotation_enabled": bool,
                             "password_rotation_history_size": int | None,
                             "password_rotation_period": int | None}

if TYPE_CHECKING:  # mypy sees the generated models as their bases
    Org = FromRecord
    CreateOrg = Request
    UpdateOrg = Request
else:
    Org = record_model(
        "Org", models.Org,
        also={"org_name": "name", "url_safe_org_slug": "url_safe_org_name",
              **{wire: name for name, wire in ORG_UPDATE_NAMES.items()}},
        constant={"password_rotation_enabled": (bool, False),
                  "password_rotation_history_size": (int | None, None),
                  "password_rotation_period": (int | None, None)},
    )
    # Orgs.create's own keyword arguments (PropelAuth's names), minus the backend's id choice.
    CreateOrg = request_model("CreateOrg", signature_fields(Orgs.create, omit={"org_id"}))
    _org_hints = get_type_hints(models.Org)
    UpdateOrg = request_model("UpdateOrg", [
        *((ORG_UPDATE_NAMES.get(f.name, f.name), _org_hints[f.name] | None, None)
          for f in fields(models.Org)
          if f.name in models.ORG_UPDATABLE and f.name not in _NOT_IN_UPDATE_ORG),
        *((name, kind | None, None) for name, kind in _PASSWORD_ROTATION.items()),
    ])


class OrgQuery(Request):
    page_size: int = Field(10, ge=1, le=100)
    page_number: int = Field(0, ge=0, le=100_000)
    order_by: OrgOrder = "CREATED_AT_ASC"
    name: str | None = None
    legacy_org_id: str | None = None
    domain: str | None = None
    #: Cursor paging (WorkOS's): the page after or before a cursor a list gave;
    #: page_size is the limit and page_number is ignored.
    before: str | None = Field(None, max_length=500)
    after: str | None = Field(None, max_length=500)


class ListMetadata(Response):
    """Cursors of the pages before and after this one (absent: nothing there)."""

    before: str | None = None
    after: str | None = None


#: Cursor paging's query parameters (WorkOS's names), beside page_size / page_number.
Cursor = Annotated[str | None, Query(max_length=500)]


def cursor_request(page_size: int, before: str | None, after: str | None
                   ) -> CursorRequest | None:
    """The cursor a list query asks for (page_size is its limit), or None: by page number."""
    if before is None and after is None:
        return None
    return CursorRequest(page_size, after=after, before=before)


def cursor_fields(page: models.Page[Any], cursor: CursorRequest | None) -> dict[str, Any]:
    """A page answer's `list_metadata`; by cursor, more results exactly when there is
    an `after` cursor (the page number says nothing)."""
    values: dict[str, Any] = {"list_metadata": ListMetadata(
        **{k: v for k, v in (("before", page.before), ("after", page.after)) if v})}
    if cursor is not None:
        values["has_more_results"] = page.after is not None
    return values


class OrgQueryResult(Paged):
    renamed: ClassVar = _paging("orgs", "total_orgs")

    orgs: list[Org]
    total_orgs: int
    list_metadata: ListMetadata | None = None


# --- members --------------------------------------------------------------------


class MemberChange(Request):
    user_id: Id
    org_id: Id
    role: str
    additional_roles: list[str] = []


class MemberRef(Request):
    user_id: Id
    org_id: Id


class OrgRef(Request):
    org_id: Id


class OrgMemberInfo(FromRecord):
    """PropelAuth's member info, read off a `tenantkit.tokens.OrgMemberInfo`."""

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


if TYPE_CHECKING:
    UserMetadata = FromRecord
else:
    UserMetadata = record_model(
        "UserMetadata", models.User, omit={"orgs"},
        constant={"has_password": (bool, False),  # tenantkit stores no passwords
                  "impersonator_user_id": (str | None, None)},
        extra={"org_id_to_org_info": (dict[str, OrgMemberInfo] | None, None),
               "role_in_org": (str | None, None),
               "additional_roles_in_org": (list[str] | None, None)},
    )


def user_metadata(user: models.User, membership: models.Membership | None = None) -> UserMetadata:
    """PropelAuth's user shape; with its orgs when the record has them, and a membership's role."""
    values: dict[str, Any] = {}
    if user.orgs is not None:
        values["org_id_to_org_info"] = {o.org_id: OrgMemberInfo.from_record(o) for o in user.orgs}
    if membership is not None:
        values.update(role_in_org=membership.role,
                      additional_roles_in_org=membership.additional_roles)
    return UserMetadata.from_record(user, **values)


class UsersPage(Paged):
    renamed: ClassVar = _paging("users", "total_users")

    users: list[UserMetadata]
    total_users: int
    list_metadata: ListMetadata | None = None


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


class CreatedUser(FromRecord):
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


class CreatedInvite(FromRecord):
    renamed: ClassVar = {"invitee_email": "email"}

    invite_id: str
    org_id: str
    invitee_email: str
    token: str
    expires_at: int


class PendingInvite(FromRecord):
    renamed: ClassVar = {"invitee_email": "email", "role_in_org": "role",
                         "additional_roles_in_org": "additional_roles"}

    invite_id: str
    invitee_email: str
    org_id: str
    org_name: str
    role_in_org: str
    additional_roles_in_org: list[str]
    created_at: int
    expires_at: int
    inviter_email: str | None = None
    inviter_user_id: str | None = None


class PendingInvitesPage(Paged):
    renamed: ClassVar = _paging("invites", "total_invites")

    invites: list[PendingInvite]
    total_invites: int


class RevokeInvite(Request):
    org_id: Id
    invitee_email: str


class AcceptInvite(Request):
    token: str
    user_id: Id | None = None


class AcceptedInvite(FromRecord):
    org_id: str
    user_id: str


# --- role mappings -----------------------------------------------------------------


class RoleIn(Request):
    name: str
    permissions: list[str] = []
    is_internal: bool = False
    is_visible_to_end_user: bool = True
    description: str | None = None


class CreateRoleMapping(Request):
    custom_role_mapping_name: str
    roles: list[RoleIn] = Field(min_length=1, max_length=50)
    multi_role: bool = False


class RoleOut(FromRecord):
    name: str
    rank: int
    permissions: list[str]
    is_internal: bool
    is_visible_to_end_user: bool
    description: str | None


class AddRole(Request):
    name: str = Field(min_length=1, max_length=100)
    rank: int | None = Field(default=None, ge=1, le=1000)
    permissions: list[str] = Field(default_factory=list, max_length=200)
    description: str | None = Field(default=None, max_length=1000)


class UpdateRole(Request):
    new_name: str | None = Field(default=None, min_length=1, max_length=100)
    permissions: list[str] | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)


class ReorderRoles(Request):
    roles: list[str] = Field(min_length=1, max_length=1000)


class CustomRoleMapping(FromRecord):
    renamed: ClassVar = {"custom_role_mapping_name": "name"}

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


class CreatedApiKey(FromRecord):
    api_key_id: str
    api_key_token: str


class ApiKey(FromRecord):
    renamed: ClassVar = {"display_name": "name", "expires_at_seconds": "expires_at"}

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


class ApiKeysPage(Paged):
    renamed: ClassVar = _paging("api_keys", "total_api_keys")

    api_keys: list[ApiKey]
    total_api_keys: int


class ValidateApiKey(Request):
    api_key_token: str


class ValidatedApiKey(FromRecord):
    api_key_id: str
    metadata: Json
    permissions: list[str]
    org: Org | None
    user: None = None


class FeatureFlag(FromRecord):
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


class AuditEvent(FromRecord):
    audit_id: int
    org_id: str | None
    action: str
    actor_kind: str
    actor_user_id: str | None
    target_type: str | None
    target_id: str | None
    metadata: Json
    occurred_at: int


class AuditLogPage(Paged):
    renamed: ClassVar = _paging("events", "total_events")

    events: list[AuditEvent]
    total_events: int


class AddDomain(Request):
    domain: str


class DomainVerification(FromRecord):
    """A domain an org asked for; `verified` once its TXT record showed the token."""

    org_id: str
    domain: str
    state: str
    txt_record_name: str
    txt_record_value: str
    created_at: int
    verified_at: int | None

    @classmethod
    def of(cls, record: models.DomainVerification) -> DomainVerification:
        return cls.from_record(record, txt_record_name=txt_name(record.domain),
                               txt_record_value=record.token)


# --- webhook endpoints (a tenantkit extension) -----------------------------------------


class CreateWebhookEndpoint(Request):
    url: str
    event_types: list[str] = []
    org_id: Id | None = None
    description: str = ""
    enabled: bool = True
    secret: str | None = Field(None, description="Bring a whsec_ secret (default: a new one)")


class UpdateWebhookEndpoint(Request):
    url: str | None = None
    event_types: list[str] | None = None
    org_id: Id | None = Field(None, description="null clears the org filter")
    description: str | None = None
    enabled: bool | None = None


class DeliveryStatus(FromRecord):
    state: str
    last_event_id: int
    pending_events: int
    lag_seconds: float
    attempts: int
    next_attempt_at: int | None
    last_attempt_at: int | None
    last_success_at: int | None
    last_delivered_event_id: int | None
    last_status_code: int | None
    last_error: str | None
    delivered_count: int
    dead_letters: int
    replays_queued: int


class WebhookEndpoint(FromRecord):
    endpoint_id: str
    url: str
    description: str
    event_types: list[str]
    org_id: str | None
    enabled: bool
    created_at: int
    updated_at: int
    previous_secret_expires_at: int | None
    status: DeliveryStatus


class CreatedWebhookEndpoint(WebhookEndpoint):
    secret: str


class WebhookEndpoints(Response):
    webhook_endpoints: list[WebhookEndpoint]


MAX_SECRET_OVERLAP: Final = 30 * 24 * 3600
_EVENT_ID = Field(ge=1, le=2**63 - 1)


class RotateSecret(Request):
    overlap_seconds: int = Field(86_400, ge=0, le=MAX_SECRET_OVERLAP)
    secret: str | None = None


class Replay(Request):
    event_ids: list[Annotated[int, _EVENT_ID]] | None = None
    from_event_id: Annotated[int, _EVENT_ID] | None = None


class Replayed(Response):
    queued: int


class WebhookDeadLetter(FromRecord):
    event_id: int
    event_type: str
    attempts: int
    last_error: str | None
    dead_at: int
    replay_requested_at: int | None


class WebhookDeadLetters(Response):
    dead_letters: list[WebhookDeadLetter]
