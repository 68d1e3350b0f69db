"""Users' memberships as PropelAuth's per-org member info (roles, inherited roles, permissions)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from tenantkit.orgs._actor import Actor
from tenantkit.orgs._db import Conn, run
from tenantkit.orgs._roles import load_role_mappings
from tenantkit.orgs._sources import orgs_source
from tenantkit.orgs.models import OrgMemberInfo
from tenantkit.schema import memberships

__all__ = ["member_infos"]


def member_infos(
    conn: Conn, actor: Actor, user_ids: Sequence[str]
) -> dict[str, tuple[OrgMemberInfo, ...]]:
    """Active memberships of each user (only those the session may see), by user id."""
    result: dict[str, list[OrgMemberInfo]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return {}
    orgs = orgs_source(actor)
    rows = run(
        conn,
        select(memberships.c.user_id, memberships.c.role, memberships.c.additional_roles,
               orgs.c.org_id, orgs.c.name, orgs.c.url_safe_org_name, orgs.c.metadata,
               orgs.c.legacy_org_id, orgs.c.custom_role_mapping_name)
        .join(orgs, orgs.c.org_id == memberships.c.org_id)
        .where(memberships.c.user_id.in_(list(user_ids)), memberships.c.status == "active")
        .order_by(memberships.c.user_id, orgs.c.created_at, orgs.c.org_id),
    ).all()
    if not rows:
        return {user_id: () for user_id in user_ids}
    mappings = load_role_mappings(conn, actor)
    for row in rows:
        m = row._mapping
        mapping = mappings.get(m["custom_role_mapping_name"]) or mappings[None]
        result[m["user_id"]].append(
            mapping.member_info(m, m["role"], list(m["additional_roles"]))
        )
    return {user_id: tuple(infos) for user_id, infos in result.items()}
