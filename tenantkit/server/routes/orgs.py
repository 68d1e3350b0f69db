"""Orgs, org query, members of an org, SAML switches: `/api/backend/v1/org...`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tenantkit.errors import FeatureDisabled
from tenantkit.orgs import PageRequest
from tenantkit.server import _schemas as s
from tenantkit.server._deps import ApiDep
from tenantkit.server._errors import ERROR_RESPONSES
from tenantkit.server._params import OrgId
from tenantkit.server._wire import OMIT_UNSET

router = APIRouter(prefix="/api/backend/v1", tags=["orgs"], responses=ERROR_RESPONSES)

# PropelAuth's update names back to the org's own field names.
_UPDATE_FIELDS = {wire: name for name, wire in s.ORG_UPDATE_NAMES.items()}


@router.post("/org/", response_model=s.Org, **OMIT_UNSET, status_code=201, summary="Create an org")
def create_org(body: s.CreateOrg, api: ApiDep) -> s.Org:
    with api.management() as m:
        return s.Org.from_record(m.orgs.create(**body.model_dump()))


def _query(api: ApiDep, q: s.OrgQuery) -> s.OrgQueryResult:
    cursor = s.cursor_request(q.page_size, q.before, q.after)
    with api.management() as m:
        page = m.orgs.query(page=PageRequest(q.page_size, q.page_number), order_by=q.order_by,
                            name=q.name, domain=q.domain, legacy_org_id=q.legacy_org_id,
                            cursor=cursor)
    return s.OrgQueryResult.from_record(page, **s.cursor_fields(page, cursor))


@router.get("/org/query", response_model=s.OrgQueryResult, **OMIT_UNSET, summary="Query orgs")
def query_orgs(api: ApiDep, q: Annotated[s.OrgQuery, Query()]) -> s.OrgQueryResult:
    return _query(api, q)


@router.post("/org/query", response_model=s.OrgQueryResult, **OMIT_UNSET,
             summary="Query orgs (JSON body)")
def query_orgs_post(api: ApiDep, body: s.OrgQuery) -> s.OrgQueryResult:
    return _query(api, body)


@router.post("/org/add_user", response_model=s.Ok, summary="Add a user to an org")
def add_user(body: s.MemberChange, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.members.add(body.org_id, body.user_id, body.role, body.additional_roles)
    return s.Ok()


@router.post("/org/change_role", response_model=s.Ok, summary="Change a member's role")
def change_role(body: s.MemberChange, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.members.change_role(body.org_id, body.user_id, body.role, body.additional_roles)
    return s.Ok()


@router.post("/org/remove_user", response_model=s.Ok, summary="Remove a user from an org")
def remove_user(body: s.MemberRef, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.members.remove(body.org_id, body.user_id)
    return s.Ok()


@router.post("/org/deactivate_user", response_model=s.Ok, tags=["extensions"],
             summary="Deactivate a membership (extension)")
def deactivate_user(body: s.MemberRef, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.members.deactivate(body.org_id, body.user_id)
    return s.Ok()


@router.post("/org/reactivate_user", response_model=s.Ok, tags=["extensions"],
             summary="Reactivate a membership (extension)")
def reactivate_user(body: s.MemberRef, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.members.reactivate(body.org_id, body.user_id)
    return s.Ok()


@router.get("/org/external_id/{external_id}", response_model=s.Org, **OMIT_UNSET,
            summary="Fetch an org by its external id")
def fetch_org_by_external_id(
    external_id: Annotated[str, Path(min_length=1, max_length=200)], api: ApiDep
) -> s.Org:
    with api.management() as m:
        return s.Org.from_record(m.orgs.fetch_by_external_id(external_id))


@router.post("/migrate_org_to_isolated", response_model=s.Org, **OMIT_UNSET,
             summary="Convert an org to an isolated org")
def migrate_org_to_isolated(body: s.OrgRef, api: ApiDep) -> s.Org:
    with api.management() as m:
        return s.Org.from_record(m.orgs.convert_to_isolated(body.org_id))


@router.get("/org/{org_id}", response_model=s.Org, **OMIT_UNSET, summary="Fetch an org")
def fetch_org(org_id: OrgId, api: ApiDep) -> s.Org:
    with api.management() as m:
        return s.Org.from_record(m.orgs.fetch(org_id))


@router.put("/org/{org_id}", response_model=s.Org, **OMIT_UNSET,
            summary="Update an org (or subscribe it to a role mapping)")
def update_org(org_id: OrgId, body: s.UpdateOrg, api: ApiDep) -> s.Org:
    given = body.model_dump(exclude_unset=True)
    rotation = [k for k in given if k.startswith("password_rotation") and given[k]]
    if rotation:
        raise FeatureDisabled("tenantkit stores no passwords: password rotation is not available")
    changes = {_UPDATE_FIELDS.get(k, k): v for k, v in given.items()
               if not k.startswith("password_rotation")}
    with api.management() as m:
        return s.Org.from_record(m.orgs.update(org_id, **changes))


@router.delete("/org/{org_id}", response_model=s.Ok, summary="Delete an org")
def delete_org(org_id: OrgId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.orgs.delete(org_id)
    return s.Ok()


@router.post("/org/{org_id}/allow_saml", response_model=s.Ok, summary="Allow SAML setup")
def allow_saml(org_id: OrgId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.orgs.update(org_id, can_setup_saml=True)
    return s.Ok()


@router.post("/org/{org_id}/disallow_saml", response_model=s.Ok, summary="Disallow SAML setup")
def disallow_saml(org_id: OrgId, api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.orgs.update(org_id, can_setup_saml=False)
    return s.Ok()


@router.get("/user/org/{org_id}", response_model=s.UsersPage, response_model_exclude_unset=True,
            summary="Users in an org")
def users_in_org(
    org_id: OrgId,
    api: ApiDep,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(ge=0, le=100_000)] = 0,
    include_orgs: bool = False,
    role: str | None = None,
    before: s.Cursor = None,
    after: s.Cursor = None,
) -> s.UsersPage:
    cursor = s.cursor_request(page_size, before, after)
    with api.management() as m:
        page = m.members.list(org_id, page=PageRequest(page_size, page_number), role=role,
                              include_orgs=include_orgs, cursor=cursor)
    return s.UsersPage.from_record(
        page, users=[s.user_metadata(x.user, x.membership) for x in page.items],
        **s.cursor_fields(page, cursor))
