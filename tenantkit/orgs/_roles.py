"""Role mappings: ordered lists of roles with permissions, which orgs subscribe to.

The default mapping (Owner > Admin > Member) comes with the schema. An org with
no `custom_role_mapping_name` uses the mapping flagged `is_default`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    any_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from tenantkit.errors import Conflict, Forbidden, InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited
from tenantkit.orgs._db import Conn, run
from tenantkit.orgs._sources import orgs_source
from tenantkit.orgs._validate import check_id, check_name, check_role
from tenantkit.orgs.models import Org, Role, RoleMapping
from tenantkit.schema import invites, memberships, orgs, role_mappings, roles

__all__ = ["RoleMappings", "load_role_mappings"]


def _permissions(permissions: Sequence[str]) -> list[str]:
    if isinstance(permissions, str) or not all(
            isinstance(p, str) and 0 < len(p) <= 200 for p in permissions):
        raise InvalidField("permissions", "must be a list of non-empty strings")
    return list(dict.fromkeys(permissions))


def _description(description: str | None) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str) or len(description) > 1000:
        raise InvalidField("description", "must be text of at most 1000 characters")
    return description


def _renamed(column: Any, old: str, new: str) -> Any:
    return case((column == old, literal(new)), else_=column)


def load_role_mappings(conn: Conn, actor: Actor) -> dict[str | None, RoleMapping]:
    """Every mapping by name, plus the default one under the key None.

    `num_orgs_subscribed` counts the orgs `actor` may see (an end user: the bound org).
    """
    visible = orgs_source(actor)
    # An org without a mapping of its own uses the default one: it counts there.
    subscribed = (
        select(func.count())
        .where(or_(visible.c.custom_role_mapping_name == role_mappings.c.name,
                   and_(visible.c.custom_role_mapping_name.is_(None),
                        role_mappings.c.is_default)))
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
                description=m[roles.c.description],
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
                                role.is_visible_to_end_user, role.description))
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
             "is_visible_to_end_user": r.is_visible_to_end_user, "description": r.description}
            for r in ordered
        ])  # type: ignore[arg-type]
        return RoleMapping(name, tuple(ordered), multi_role=multi_role)

    # --- editing a mapping at runtime (backend work) ----------------------------------

    def add_role(self, mapping: str, name: str, *, rank: int | None = None,
                 permissions: Sequence[str] = (), description: str | None = None) -> RoleMapping:
        """Add a role at `rank` (1 = most privileged; default: last); others move down."""
        found, mapping_id = self._editable(mapping)
        name = check_role("name", name)
        if found.role(name) is not None:
            raise Conflict(f"the mapping already has a role named {name!r}")
        last = len(found.roles) + 1
        place = last if rank is None else rank
        if not isinstance(place, int) or not 1 <= place <= last:
            raise InvalidField("rank", f"must be from 1 to {last}")
        self._shift(mapping_id, from_rank=place)
        run(self._conn, audited(
            insert(roles).values(mapping_id=mapping_id, name=name, rank=place,
                                 permissions=_permissions(permissions),
                                 description=_description(description))
            .returning(roles.c.name),
            actor=self._actor, action="role_mapping.role_added", target_type="role_mapping",
            target_id=lambda c: literal(found.name), org_id=None,
            metadata={"role": name, "rank": place}))
        self._renumber(mapping_id)
        return self.fetch(found.name)

    def update_role(self, mapping: str, name: str, *, new_name: str | None = None,
                    permissions: Sequence[str] | None = None,
                    description: str | None = None) -> RoleMapping:
        """Rename a role (its holders and pending invites follow), or change its
        permissions or description. The database applies new permissions from the
        next statement on; org API keys keep the permissions they were made with."""
        found, mapping_id = self._editable(mapping)
        name = check_role("name", name)
        if found.role(name) is None:
            raise NotFound(f"the mapping has no role named {name!r}")
        values: dict[str, Any] = {}
        if permissions is not None:
            values["permissions"] = _permissions(permissions)
        if description is not None:
            values["description"] = _description(description)
        renamed = None
        if new_name is not None and new_name != name:
            renamed = check_role("new_name", new_name)
            if found.role(renamed) is not None:
                raise Conflict(f"the mapping already has a role named {renamed!r}")
            values["name"] = renamed
        if not values:
            raise InvalidField("name", "nothing to change")
        run(self._conn, audited(
            update(roles).where(roles.c.mapping_id == mapping_id, roles.c.name == name)
            .values(**values).returning(roles.c.name),
            actor=self._actor, action="role_mapping.role_updated", target_type="role_mapping",
            target_id=lambda c: literal(found.name), org_id=None,
            metadata={"role": name, "changed": sorted(values)}))
        if renamed is not None:
            users = self._orgs_using(found)
            for table in (memberships, invites):
                holds = or_(table.c.role == name, literal(name) == any_(table.c.additional_roles))
                where = [table.c.org_id.in_(users), holds]
                if table is invites:
                    where.append(invites.c.state == "pending")
                run(self._conn, update(table).where(*where).values(
                    role=_renamed(table.c.role, name, renamed),
                    additional_roles=func.array_replace(table.c.additional_roles, name, renamed)))
        return self.fetch(found.name)

    def reorder(self, mapping: str, names_in_order: Sequence[str]) -> RoleMapping:
        """Give the mapping's roles new ranks: `names_in_order`, most privileged first."""
        found, mapping_id = self._editable(mapping)
        if sorted(names_in_order) != sorted(r.name for r in found.roles):
            raise InvalidField("roles", "name every role of the mapping exactly once")
        self._shift(mapping_id, from_rank=1)
        for place, name in enumerate(names_in_order, start=1):
            run(self._conn, update(roles).where(roles.c.mapping_id == mapping_id,
                                                roles.c.name == name).values(rank=place))
        run(self._conn, audited(
            update(role_mappings).where(role_mappings.c.mapping_id == mapping_id)
            .values(name=role_mappings.c.name).returning(role_mappings.c.name),
            actor=self._actor, action="role_mapping.reordered", target_type="role_mapping",
            target_id=lambda c: c.name, org_id=None, metadata={"roles": list(names_in_order)}))
        return self.fetch(found.name)

    def delete_role(self, mapping: str, name: str) -> RoleMapping:
        """Delete a role; refused (Conflict) while a member or pending invite holds it."""
        found, mapping_id = self._editable(mapping)
        name = check_role("name", name)
        if found.role(name) is None:
            raise NotFound(f"the mapping has no role named {name!r}")
        if len(found.roles) == 1:
            raise Conflict("a mapping keeps at least one role")
        users = self._orgs_using(found)
        held = 0
        for table in (memberships, invites):
            where: list[ColumnElement[bool]] = [
                table.c.org_id.in_(users),
                or_(table.c.role == name, literal(name) == any_(table.c.additional_roles))]
            if table is invites:
                where.append(invites.c.state == "pending")
            held += int(run(self._conn, select(func.count()).select_from(table)
                            .where(*where)).scalar_one())
        if held:
            raise Conflict(f"{held} members or pending invites hold {name!r}: move them first")
        run(self._conn, audited(
            delete(roles).where(roles.c.mapping_id == mapping_id, roles.c.name == name)
            .returning(roles.c.name),
            actor=self._actor, action="role_mapping.role_deleted", target_type="role_mapping",
            target_id=lambda c: literal(found.name), org_id=None, metadata={"role": name}))
        self._renumber(mapping_id)
        return self.fetch(found.name)

    def _editable(self, mapping: str) -> tuple[RoleMapping, Any]:
        if self._actor.is_end_user:
            raise Forbidden("editing role mappings is backend work")
        found = self.fetch(mapping)
        mapping_id = run(self._conn, select(role_mappings.c.mapping_id).where(
            role_mappings.c.name == found.name).with_for_update()).scalar_one()
        return found, mapping_id

    def _orgs_using(self, mapping: RoleMapping) -> Any:
        uses = orgs.c.custom_role_mapping_name == mapping.name
        if mapping.is_default:
            uses = or_(uses, orgs.c.custom_role_mapping_name.is_(None))
        return select(orgs.c.org_id).where(uses).scalar_subquery()

    def _shift(self, mapping_id: Any, *, from_rank: int) -> None:
        # Out of the way first: (mapping_id, rank) is unique at every row, so move
        # past the highest rank (read once, before any row changes).
        highest = (select(func.max(roles.c.rank)).where(roles.c.mapping_id == mapping_id)
                   .scalar_subquery())
        run(self._conn, update(roles).where(roles.c.mapping_id == mapping_id,
                                            roles.c.rank >= from_rank)
            .values(rank=roles.c.rank + highest))

    def _renumber(self, mapping_id: Any) -> None:
        names = list(run(self._conn, select(roles.c.name).where(roles.c.mapping_id == mapping_id)
                         .order_by(roles.c.rank)).scalars())
        self._shift(mapping_id, from_rank=1)
        for place, name in enumerate(names, start=1):
            run(self._conn, update(roles).where(roles.c.mapping_id == mapping_id,
                                                roles.c.name == name).values(rank=place))

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

