"""Member info and tokens for tests, as the role mapping and the database say.

- `OrgMemberInfo(org_id, "Admin")`: member info whose inherited roles and
  permissions follow tenantkit's default role mapping (Owner > Admin > Member),
  so an Admin passes `minimum_role("Member")` as it would in production.
  (`tenantkit.tokens.OrgMemberInfo` states only what it is given.)
- `token_for_user(service_engine, issuer, user_id)`: a token stating the user's
  memberships as the database holds them right now, the way `tenantkit serve`
  mints them.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, Engine

from tenantkit.orgs import Management
from tenantkit.orgs.models import Role, RoleMapping
from tenantkit.tokens import OrgMemberInfo as _OrgMemberInfo
from tenantkit.tokens import TokenIssuer

__all__ = ["DEFAULT_ROLE_MAPPING", "OrgMemberInfo", "token_for_user"]

_ADMIN: Final = (
    "tenantkit::can_invite",
    "tenantkit::can_change_roles",
    "tenantkit::can_remove_users",
    "tenantkit::can_update_org",
    "tenantkit::can_manage_api_keys",
)

#: The mapping `tenantkit migrate` creates (sql/0001_tables.sql; a test holds them equal).
DEFAULT_ROLE_MAPPING: Final = RoleMapping(
    name="Default",
    is_default=True,
    roles=(
        Role("Owner", 1, (*_ADMIN, "tenantkit::can_delete_org", "tenantkit::can_view_audit_log")),
        Role("Admin", 2, (*_ADMIN, "tenantkit::can_view_audit_log")),
        Role("Member", 3, ()),
    ),
)


def OrgMemberInfo(  # reads like the class it builds
    org_id: str,
    user_role: str,
    *,
    additional_roles: tuple[str, ...] | list[str] = (),
    mapping: RoleMapping = DEFAULT_ROLE_MAPPING,
    **fields: Any,
) -> _OrgMemberInfo:
    """`tenantkit.tokens.OrgMemberInfo` with inherited roles and permissions from `mapping`.

    Other fields (org_name, org_metadata, ...) pass through; explicit
    `inherited_user_roles_plus_current_role` or `user_permissions` win.
    """
    derived = mapping.member_info(
        {
            "org_id": org_id,
            "name": None,
            "url_safe_org_name": None,
            "metadata": None,
            "legacy_org_id": None,
        },
        user_role,
        list(additional_roles),
    )
    values: dict[str, Any] = {
        "inherited_user_roles_plus_current_role": derived.inherited_user_roles_plus_current_role,
        "user_permissions": derived.user_permissions,
        "additional_roles": derived.additional_roles,
        "org_role_structure": derived.org_role_structure,
        **fields,
    }
    return _OrgMemberInfo(org_id=org_id, user_role=user_role, **values)


def token_for_user(
    service: Engine | Connection,
    issuer: TokenIssuer,
    user_id: str,
    *,
    active_org_id: str | None = None,
    lifetime: int | None = None,
) -> str:
    """A token for `user_id` stating their current memberships (read as the service role)."""
    if isinstance(service, Engine):
        with service.begin() as conn:
            user = Management(conn).users.fetch(user_id, include_orgs=True)
    else:
        user = Management(service).users.fetch(user_id, include_orgs=True)
    return issuer.issue(
        user_id=user.user_id,
        email=user.email,
        orgs=user.orgs or (),
        active_org_id=active_org_id,
        lifetime=lifetime,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
    )
