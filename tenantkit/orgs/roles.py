"""Role mappings: ordered lists of roles with permissions, which orgs subscribe to.

The default mapping (Owner > Admin > Member) comes with the schema. An org with
no `custom_role_mapping_name` uses the mapping flagged `is_default`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update

from tenantkit.errors import InvalidField, NotFound
from tenantkit.orgs._db import Conn, run
from tenantkit.orgs._sources import orgs_source
from tenantkit.orgs._validate import check_id, check_name, check_role
from tenantkit.orgs.actor import Actor
from tenantkit.orgs.audit import audited
from tenantkit.orgs.models import Org, Role, RoleMapping
from tenantkit.schema import orgs, role_mappings, roles

__all__ = ["RoleMappings", "load_role_mappings"]


def load_role_mappings(conn: Conn, actor: Actor) -> dict[str | None, RoleMapping]:
    """Every mapping by name, plus the default one under the key None.

    `num_orgs_subscribed` counts the orgs `actor` may see (an end user: the bound org).
    """
    visible = orgs_source(actor)
    subscribed = (
        select(func.count())
        .where(visible.c.custom_role_mapping_name == role_mappings.c.name)
        .scalar_subquery()
    )
    rows = run(
        conn,
        select(role_mappings, roles, subscribed.label("num_orgs"))
        .join(roles, roles.c.mapping_id == role_mappings.c.mapping_id, isouter=True)
        .order_by(role_mappings.c.name, roles.c.rank),
    )
    grouped: dict[str, tuple[Any, list[Role]]] = {}
    for row in rows:
        m = row._mapping
        head, found = grouped.setdefault(m[role_mappings.c.name], (m, []))
        if m[roles.c.name] is not None:
            found.append(Role(
                name=m[roles.c.name],
                rank=m[roles.c.rank],
                permissions=tuple(m[roles.c.permissions]),
                is_internal=m[roles.c.is_internal],
                is_visible_to_end_user=m[roles.c.is_visible_to_end_user],
            ))
    result: dict[str | None, RoleMapping] = {}
    for name, (head, found) in grouped.items():
        mapping = RoleMapping(
            name=name,
            roles=tuple(found),
            multi_role=head[role_mappings.c.multi_role],
            is_default=head[role_mappings.c.is_default],
            num_orgs_subscribed=int(head["num_orgs"]),
        )
        result[name] = mapping
        if mapping.is_default:
            result[None] = mapping
    return result


class RoleMappings:
    """Create and list role mappings; subscribe an org to one."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def list(self) -> list[RoleMapping]:
        """Every mapping, by name, with how many orgs subscribe to it."""
        found = load_role_mappings(self._conn, self._actor)
        return [m for key, m in sorted(found.items(), key=lambda kv: str(kv[0])) if key is not None]

    def fetch(self, name: str) -> RoleMapping:
        wanted = check_name("custom_role_mapping_name", name)
        found = load_role_mappings(self._conn, self._actor).get(wanted)
        if found is None:
            raise NotFound(f"no role mapping named {name!r}")
        return found

    def create(self, name: str, roles_in_order: Sequence[Role | str], *,
               multi_role: bool = False) -> RoleMapping:
        """A new mapping; roles are given most privileged first (their rank is their place)."""
        name = check_name("custom_role_mapping_name", name, max_length=100)
        if not roles_in_order:
            raise InvalidField("roles", "a mapping needs at least one role")
        ordered: list[Role] = []
        for place, given in enumerate(roles_in_order, start=1):
            role = given if isinstance(given, Role) else Role(name=given, rank=place)
            check_role("roles", role.name)
            if any(isinstance(p, str) is False or not p for p in role.permissions):
                raise InvalidField("roles", "permissions must be non-empty strings")
            ordered.append(Role(role.name, place, tuple(role.permissions), role.is_internal,
                                role.is_visible_to_end_user))
        if len({r.name for r in ordered}) != len(ordered):
            raise InvalidField("roles", "role names must be distinct")
        stmt = audited(
            insert(role_mappings).values(name=name, multi_role=multi_role)
            .returning(role_mappings.c.mapping_id, role_mappings.c.name),
            actor=self._actor, action="role_mapping.created", target_type="role_mapping",
            target_id=lambda c: c.name, org_id=None,
            metadata={"roles": [r.name for r in ordered], "multi_role": multi_role},
        )
        mapping_id = run(self._conn, stmt).one()._mapping["mapping_id"]
        run(self._conn, insert(roles), [
            {"mapping_id": mapping_id, "name": r.name, "rank": r.rank,
             "permissions": list(r.permissions), "is_internal": r.is_internal,
             "is_visible_to_end_user": r.is_visible_to_end_user}
            for r in ordered
        ])  # type: ignore[arg-type]
        return RoleMapping(name, tuple(ordered), multi_role=multi_role)

    def subscribe(self, org_id: str, name: str | None) -> Org:
        """Subscribe `org_id` to the mapping `name` (None: back to the default).

        Refused (TK005, 400) while a member holds a role the new mapping lacks.
        """
        org_id = check_id("org_id", org_id)
        if name is not None:
            name = check_name("custom_role_mapping_name", name, max_length=100)
        self._check_members_fit(org_id, name)
        stmt = audited(
            update(orgs).where(orgs.c.org_id == org_id)
            .values(custom_role_mapping_name=name).returning(*orgs.c),
            actor=self._actor, action="org.role_mapping_changed", target_type="org",
            target_id=lambda c: c.org_id, org_id=lambda c: c.org_id,
            metadata={"custom_role_mapping_name": name},
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise NotFound("org not found")
        return Org.from_row(row)

    def _check_members_fit(self, org_id: str, name: str | None) -> None:
        from tenantkit.schema import memberships

        mappings = load_role_mappings(self._conn, self._actor)
        target = mappings.get(name)
        if target is None:
            raise InvalidField("custom_role_mapping_name", "does not exist")
        known = [r.name for r in target.roles]
        held = run(
            self._conn,
            select(func.unnest(func.array_prepend(memberships.c.role,
                                                  memberships.c.additional_roles)))
            .where(memberships.c.org_id == org_id),
        ).scalars()
        missing = sorted({r for r in held if r not in known})
        if missing:
            raise InvalidField(
                "custom_role_mapping_name",
                f"members hold roles the mapping lacks: {', '.join(missing)}",
            )

