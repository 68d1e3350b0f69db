"""Invites and role mappings: `/api/backend/v1/invite_user...`, `/pending_org_invites`,
`/custom_role_mappings`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from tenantkit.orgs import CreatedInvite, PageRequest, Role
from tenantkit.server import _schemas as s
from tenantkit.server._deps import ApiDep
from tenantkit.server._errors import ERROR_RESPONSES
from tenantkit.server._wire import OMIT_UNSET

router = APIRouter(prefix="/api/backend/v1", tags=["invites"], responses=ERROR_RESPONSES)


def _created(c: CreatedInvite) -> s.CreatedInvite:
    return s.CreatedInvite.from_record(c.invite, token=c.token)


@router.post("/invite_user", response_model=s.CreatedInvite,
             summary="Invite by email (the token is shown once)")
def invite_user(body: s.InviteByEmail, api: ApiDep) -> s.CreatedInvite:
    with api.management() as m:
        return _created(m.invites.create(
            body.org_id, email=body.email, role=body.role,
            additional_roles=body.additional_roles,
            expires_in=timedelta(days=body.expires_in_days)))


@router.post("/invite_user_by_id", response_model=s.CreatedInvite,
             summary="Invite an existing user (the token is shown once)")
def invite_user_by_id(body: s.InviteById, api: ApiDep) -> s.CreatedInvite:
    with api.management() as m:
        return _created(m.invites.create(
            body.org_id, user_id=body.user_id, role=body.role,
            additional_roles=body.additional_roles,
            expires_in=timedelta(days=body.expires_in_days)))


@router.get("/pending_org_invites", response_model=s.PendingInvitesPage, **OMIT_UNSET,
            summary="Pending invites of an org, or of every org")
def pending_invites(
    api: ApiDep,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(ge=0, le=100_000)] = 0,
    org_id: str | None = None,
) -> s.PendingInvitesPage:
    with api.management() as m:
        page = m.invites.list_pending(org_id=org_id, page=PageRequest(page_size, page_number))
    return s.PendingInvitesPage.from_record(page)


@router.delete("/pending_org_invites", response_model=s.Ok, summary="Revoke a pending invite")
def revoke_invite(body: Annotated[s.RevokeInvite, Body()], api: ApiDep) -> s.Ok:
    with api.management() as m:
        m.invites.revoke(body.org_id, body.invitee_email)
    return s.Ok()


@router.post("/accept_invite", response_model=s.AcceptedInvite, tags=["extensions"],
             summary="Accept an invite by token (extension)")
def accept_invite(body: s.AcceptInvite, api: ApiDep) -> s.AcceptedInvite:
    with api.management() as m:
        return s.AcceptedInvite.from_record(m.invites.accept(body.token, user_id=body.user_id))


@router.get("/custom_role_mappings", response_model=s.CustomRoleMappings, tags=["roles"],
            summary="Role mappings and how many orgs use each")
def role_mappings(api: ApiDep) -> s.CustomRoleMappings:
    with api.management() as m:
        found = m.role_mappings.list()
    return s.CustomRoleMappings(
        custom_role_mappings=[s.CustomRoleMapping.from_record(x) for x in found])


@router.post("/custom_role_mappings", response_model=s.CustomRoleMapping,
             tags=["roles", "extensions"], summary="Create a role mapping (extension)")
def create_role_mapping(body: s.CreateRoleMapping, api: ApiDep) -> s.CustomRoleMapping:
    roles = [Role(r.name, i, tuple(r.permissions), r.is_internal, r.is_visible_to_end_user,
                  r.description) for i, r in enumerate(body.roles, start=1)]
    with api.management() as m:
        return s.CustomRoleMapping.from_record(m.role_mappings.create(
            body.custom_role_mapping_name, roles, multi_role=body.multi_role))


_MAPPING = "/custom_role_mappings/{custom_role_mapping_name}"
MappingName = Annotated[str, Path(min_length=1, max_length=100)]
RoleName = Annotated[str, Path(min_length=1, max_length=100)]


@router.post(_MAPPING + "/roles", response_model=s.CustomRoleMapping,
             tags=["roles", "extensions"], summary="Add a role to a mapping (extension)")
def add_role(custom_role_mapping_name: MappingName, body: s.AddRole,
             api: ApiDep) -> s.CustomRoleMapping:
    with api.management() as m:
        return s.CustomRoleMapping.from_record(m.role_mappings.add_role(
            custom_role_mapping_name, body.name, rank=body.rank, permissions=body.permissions,
            description=body.description))


@router.put(_MAPPING + "/roles/{role}", response_model=s.CustomRoleMapping,
            tags=["roles", "extensions"],
            summary="Rename a role, or change its permissions or description (extension)")
def update_role(custom_role_mapping_name: MappingName, role: RoleName, body: s.UpdateRole,
                api: ApiDep) -> s.CustomRoleMapping:
    with api.management() as m:
        return s.CustomRoleMapping.from_record(m.role_mappings.update_role(
            custom_role_mapping_name, role, new_name=body.new_name,
            permissions=body.permissions, description=body.description))


@router.put(_MAPPING + "/order", response_model=s.CustomRoleMapping,
            tags=["roles", "extensions"], summary="Reorder a mapping's roles (extension)")
def reorder_roles(custom_role_mapping_name: MappingName, body: s.ReorderRoles,
                  api: ApiDep) -> s.CustomRoleMapping:
    with api.management() as m:
        return s.CustomRoleMapping.from_record(m.role_mappings.reorder(
            custom_role_mapping_name, body.roles))


@router.delete(_MAPPING + "/roles/{role}", response_model=s.CustomRoleMapping,
               tags=["roles", "extensions"],
               summary="Delete a role nobody holds (extension)")
def delete_role(custom_role_mapping_name: MappingName, role: RoleName,
                api: ApiDep) -> s.CustomRoleMapping:
    with api.management() as m:
        return s.CustomRoleMapping.from_record(m.role_mappings.delete_role(
            custom_role_mapping_name, role))
