"""Users: `/api/backend/v1/user...`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tenantkit.context import UUID_ANY_CASE
from tenantkit.orgs import PageRequest, UserOrder
from tenantkit.server import _schemas as s
from tenantkit.server._deps import ApiDep
from tenantkit.server._errors import ERROR_RESPONSES
from tenantkit.server._params import UserId
from tenantkit.server._wire import OMIT_UNSET

router = APIRouter(prefix="/api/backend/v1/user", tags=["users"], responses=ERROR_RESPONSES)

_IGNORED_ON_CREATE = ("send_email_to_confirm_email_address",
                      "ask_user_to_update_password_on_login", "ignore_domain_restrictions")


@router.get("/email", response_model=s.UserMetadata, response_model_exclude_unset=True,
            summary="Fetch a user by email")
def by_email(email: str, api: ApiDep, include_orgs: bool = False,
             isolated_org_id: Annotated[str | None, Query(pattern=f"^{UUID_ANY_CASE}$")] = None,
             ) -> s.UserMetadata:
    # PropelAuth: without isolated_org_id only users outside isolated orgs match.
    with api.management() as m:
        return s.user_metadata(m.users.fetch_by_email(
            email, include_orgs=include_orgs,
            isolated_org_id=isolated_org_id.lower() if isolated_org_id else None))


@router.get("/username", response_model=s.UserMetadata, response_model_exclude_unset=True,
            summary="Fetch a user by username")
def by_username(username: str, api: ApiDep, include_orgs: bool = False) -> s.UserMetadata:
    with api.management() as m:
        return s.user_metadata(m.users.fetch_by_username(username, include_orgs=include_orgs))


@router.get("/query", response_model=s.UsersPage, response_model_exclude_unset=True,
            summary="Search users")
def query_users(
    api: ApiDep,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(ge=0, le=100_000)] = 0,
    order_by: UserOrder = "CREATED_AT_ASC",
    email_or_username: str | None = None,
    legacy_user_id: str | None = None,
    include_orgs: bool = False,
    before: s.Cursor = None,
    after: s.Cursor = None,
) -> s.UsersPage:
    cursor = s.cursor_request(page_size, before, after)
    with api.management() as m:
        page = m.users.query(page=PageRequest(page_size, page_number), order_by=order_by,
                             email_or_username=email_or_username,
                             legacy_user_id=legacy_user_id, include_orgs=include_orgs,
                             cursor=cursor)
    return s.UsersPage.from_record(page, users=[s.user_metadata(u) for u in page.items],
                                   **s.cursor_fields(page, cursor))


# PropelAuth answers a batch fetch with a JSON array: the users found, each once,
# unmatched keys left out (propelauth-py keys the array by id, email or username
# itself). Python's `Users.fetch_many` returns the same users keyed.
@router.post("/user_ids", response_model=list[s.UserMetadata],
             response_model_exclude_unset=True, summary="Fetch users by ids (batch)")
def by_ids(body: s.UserIds, api: ApiDep, include_orgs: bool = False) -> list[s.UserMetadata]:
    with api.management() as m:
        found = m.users.fetch_many(user_ids=body.user_ids, include_orgs=include_orgs)
    return [s.user_metadata(u) for u in found.values()]


@router.post("/emails", response_model=list[s.UserMetadata],
             response_model_exclude_unset=True, summary="Fetch users by emails (batch)")
def by_emails(body: s.Emails, api: ApiDep, include_orgs: bool = False) -> list[s.UserMetadata]:
    with api.management() as m:
        found = m.users.fetch_many(emails=body.emails, include_orgs=include_orgs)
    return [s.user_metadata(u) for u in found.values()]


@router.post("/usernames", response_model=list[s.UserMetadata],
             response_model_exclude_unset=True, summary="Fetch users by usernames (batch)")
def by_usernames(
    body: s.Usernames, api: ApiDep, include_orgs: bool = False
) -> list[s.UserMetadata]:
    with api.management() as m:
        found = m.users.fetch_many(usernames=body.usernames, include_orgs=include_orgs)
    return [s.user_metadata(u) for u in found.values()]


@router.post("/", response_model=s.CreatedUser, **OMIT_UNSET, summary="Create a user")
def create_user(body: s.CreateUser, api: ApiDep) -> s.CreatedUser:
    fields = body.model_dump(exclude=set(_IGNORED_ON_CREATE))
    with api.management() as m:
        return s.CreatedUser.from_record(m.users.create(**fields))


@router.get("/{user_id}", response_model=s.UserMetadata, response_model_exclude_unset=True,
            summary="Fetch a user")
def fetch_user(user_id: UserId, api: ApiDep, include_orgs: bool = False) -> s.UserMetadata:
    with api.management() as m:
        return s.user_metadata(m.users.fetch(user_id, include_orgs=include_orgs))


# PropelAuth answers both updates with `{}` (fetch the user for its new state).
@router.put("/{user_id}", response_model=s.Ok, summary="Update a user")
def update_user(user_id: UserId, body: s.UpdateUser, api: ApiDep) -> s.Ok:
    changes = body.model_dump(exclude_unset=True, exclude={"update_password_required"})
    with api.management() as m:
        m.users.update(user_id, **changes)
    return s.Ok()


@router.put("/{user_id}/email", response_model=s.Ok, summary="Change a user's email")
def update_email(user_id: UserId, body: s.UpdateEmail, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.users.update_email(
            user_id, body.new_email, require_email_confirmation=body.require_email_confirmation)
    return s.Ok()


@router.post("/{user_id}/disable", response_model=s.Ok, summary="Disable a user")
def disable_user(user_id: UserId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.users.disable(user_id)
    return s.Ok()


@router.post("/{user_id}/enable", response_model=s.Ok, summary="Enable a user")
def enable_user(user_id: UserId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.users.enable(user_id)
    return s.Ok()


@router.delete("/{user_id}", response_model=s.Ok, summary="Delete a user")
def delete_user(user_id: UserId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.users.delete(user_id)
    return s.Ok()
