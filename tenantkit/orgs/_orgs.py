"""Organizations: create, fetch, query, update and delete.

Deleting an org deletes its memberships, invites, API keys and feature flags
(foreign keys ON DELETE CASCADE) and, for the app's tenant tables, their rows:
tenant tables reference `tenantkit.orgs` ON DELETE CASCADE, so an org's data
goes with it in the same transaction. Its audit trail stays (no foreign key),
and its id is tombstoned: no org is ever created with it again (409), so no
new org inherits an old one's trail.

An end user creates an org through `tenantkit.create_org_as_owner`, which
draws the id itself, and reads only the bound org (`tenantkit.current_org()`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    ColumnElement,
    FromClause,
    any_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from tenantkit.errors import Forbidden, InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited, json_value
from tenantkit.orgs._db import Conn, like_pattern, missing_or_refused, run, uuid_param
from tenantkit.orgs._paging import CursorRequest, PageRequest, fetch_listing
from tenantkit.orgs._roles import RoleMappings
from tenantkit.orgs._sources import from_function, orgs_source
from tenantkit.orgs._validate import (
    check_domain,
    check_id,
    check_text,
)
from tenantkit.orgs.models import ORG_RULES, ORG_UPDATABLE, Org, Page
from tenantkit.schema import orgs

__all__ = ["OrgOrder", "Orgs"]

OrgOrder = Literal["CREATED_AT_ASC", "CREATED_AT_DESC", "NAME"]
ORG_ORDERS: Final = get_args(OrgOrder)

#: Fields `Orgs.update` accepts: read off the `Org` record, where each field's rule lives.
UPDATABLE: Final = ORG_UPDATABLE
#: What an end user changes through the database's door rather than an UPDATE, each
#: with its own rule there: the domain rules need `tenantkit::can_update_org`, the
#: 2FA deadline the org's top role (PropelAuth: "only org owners").
END_USER_SETTINGS: Final = frozenset({"domain_autojoin", "domain_restrict", "require_2fa_by"})


def _clean(field: str, value: Any) -> Any:
    """One validated org field value."""
    check = ORG_RULES.get(field)
    if check is None:
        raise InvalidField(field, "is not an org field")
    return check(field, value)


class Orgs:
    """Organization CRUD; on an end-user session row-level security decides."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def create(
        self,
        name: str,
        *,
        domain: str | None = None,
        enable_auto_joining_by_domain: bool = False,
        members_must_have_matching_domain: bool = False,
        max_users: int | None = None,
        custom_role_mapping_name: str | None = None,
        legacy_org_id: str | None = None,
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra_domains: list[str] | None = None,
        isolated: bool = False,
        org_id: str | None = None,
    ) -> Org:
        """A new org. An end user creates it through `create_org_as_owner` and
        becomes its first role; the database draws its id, and plan settings are
        then the backend's to set. The backend may choose `org_id`, but never
        the id of a deleted org (Conflict)."""
        fields: dict[str, Any] = {"name": name}
        given = {
            "domain": domain, "domain_autojoin": enable_auto_joining_by_domain,
            "domain_restrict": members_must_have_matching_domain, "max_users": max_users,
            "custom_role_mapping_name": custom_role_mapping_name,
            "legacy_org_id": legacy_org_id, "external_id": external_id,
            "extra_domains": extra_domains, "isolated": isolated,
        }
        # Defaults are left to the database; 0 is a value (and a bad max_users), not a default.
        fields.update({k: v for k, v in given.items() if v is not None and v is not False})
        if metadata is not None:
            fields["metadata"] = metadata
        clean = {k: _clean(k, v) for k, v in fields.items()}
        if clean.get("domain_restrict") and not clean.get("domain"):
            raise InvalidField("domain", "is required when members must have a matching domain")

        if self._actor.is_end_user:
            # The database draws the id: a chosen one could only probe which ids exist.
            chosen = {"org_id"} if org_id is not None else set()
            beyond = sorted((set(clean) - {"name", "metadata"}) | chosen)
            if beyond:
                raise Forbidden(
                    f"an end user may only set name and metadata ({', '.join(beyond)} given)"
                )
            created = from_function(orgs, func.tenantkit.create_org_as_owner(
                literal(clean["name"]), json_value(clean.get("metadata", {}))))
            return Org.from_row(run(self._conn, select(created)).one())

        new_id = check_id("org_id", org_id) if org_id is not None else str(uuid.uuid4())
        stmt = audited(
            insert(orgs).values(org_id=new_id, url_safe_org_name="", **clean).returning(*orgs.c),
            actor=self._actor, action="org.created", target_type="org",
            target_id=lambda c: c.org_id, org_id=lambda c: c.org_id,
            metadata={k: v for k, v in clean.items() if k != "metadata"},
        )
        return Org.from_row(run(self._conn, stmt).one())

    def fetch(self, org_id: str) -> Org:
        org_id = check_id("org_id", org_id)
        return self._fetch_one(lambda o: o.c.org_id == org_id)

    def fetch_by_external_id(self, external_id: str) -> Org:
        wanted = check_text("external_id", external_id)
        return self._fetch_one(lambda o: o.c.external_id == wanted)

    def fetch_by_legacy_org_id(self, legacy_org_id: str) -> Org:
        wanted = check_text("legacy_org_id", legacy_org_id)
        return self._fetch_one(lambda o: o.c.legacy_org_id == wanted)

    def _fetch_one(self, where: Callable[[FromClause], ColumnElement[bool]]) -> Org:
        o = orgs_source(self._actor)
        row = run(self._conn, select(o).where(where(o))).one_or_none()
        if row is None:
            raise NotFound("org not found")
        return Org.from_row(row)

    def query(
        self,
        *,
        page: PageRequest | None = None,
        order_by: OrgOrder = "CREATED_AT_ASC",
        name: str | None = None,
        domain: str | None = None,
        legacy_org_id: str | None = None,
        with_total: bool = True,
        cursor: CursorRequest | None = None,
    ) -> Page[Org]:
        """Orgs matching every given filter (name: case-insensitive substring).

        `with_total=False` skips counting the matches (`total` is then -1).
        With `cursor`, the page is the one before or after a cursor instead of a
        page number (`Page.before` / `Page.after` carry the next cursors).
        """
        page = page or PageRequest()
        if order_by not in ORG_ORDERS:
            raise InvalidField("order_by", f"must be one of {', '.join(ORG_ORDERS)}")
        o = orgs_source(self._actor)
        where: list[ColumnElement[bool]] = []
        if name is not None:
            pattern = like_pattern(check_text("name", name, max_length=200))
            where.append(o.c.name.ilike(pattern))
        if domain is not None:
            wanted = check_domain("domain", domain)
            in_extra = literal(wanted) == any_(o.c.extra_domains)
            where.append(or_(o.c.domain == wanted, in_extra))
        if legacy_org_id is not None:
            where.append(o.c.legacy_org_id == check_text("legacy_org_id", legacy_org_id))
        keys = ([o.c.name, o.c.org_id] if order_by == "NAME"
                else [o.c.created_at, o.c.org_id])
        listing = fetch_listing(
            self._conn, columns=list(o.c), from_=o, where=where, keys=keys,
            descending=order_by == "CREATED_AT_DESC", page=cursor or page,
            with_total=with_total)
        return Page([Org.from_row(r) for r in listing.rows], listing.total, listing.page_number,
                    listing.page_size, before=listing.before, after=listing.after)

    def update(self, org_id: str, **changes: Any) -> Org:
        """Change the given fields (see UPDATABLE); None clears an optional field."""
        org_id = check_id("org_id", org_id)
        unknown = sorted(set(changes) - UPDATABLE)
        if unknown:
            raise InvalidField({f: "is not an updatable org field" for f in unknown})
        if not changes:
            return self.fetch(org_id)
        clean = {k: _clean(k, v) for k, v in changes.items()}
        doored: dict[str, Any] = {}
        if self._actor.is_end_user:
            # Settings with a rule of their own go through the database's door,
            # which checks that rule (see END_USER_SETTINGS); the rest is a plain
            # UPDATE the column privileges and policies decide (name, metadata).
            # The UPDATE goes first: refused, it raises before the door writes.
            doored = {k: clean.pop(k) for k in list(clean) if k in END_USER_SETTINGS}
            if not clean:
                self._update_settings(org_id, doored)
                return self.fetch(org_id)
        if "custom_role_mapping_name" in clean:
            RoleMappings(self._conn, self._actor)._check_members_fit(
                org_id, clean["custom_role_mapping_name"])
        # An end user may read no org column but org_id: the row comes back
        # through current_org() instead.
        returned = [orgs.c.org_id] if self._actor.is_end_user else list(orgs.c)
        stmt = audited(
            update(orgs).where(orgs.c.org_id == org_id).values(**clean).returning(*returned),
            actor=self._actor, action="org.updated", target_type="org",
            target_id=lambda c: c.org_id, org_id=lambda c: c.org_id,
            metadata={"changed": sorted(clean)},
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise missing_or_refused(
                self._conn, select(orgs.c.org_id).where(orgs.c.org_id == org_id), "org"
            )
        if doored:
            self._update_settings(org_id, doored)
        return self.fetch(org_id) if self._actor.is_end_user else Org.from_row(row)

    def _update_settings(self, org_id: str, changes: dict[str, Any]) -> None:
        """An end user's change to settings with their own rule, through
        `tenantkit.update_current_org_settings()`: it refuses (403) a role without
        the rule's permission, and answers 404 for any org but the bound one."""
        wire = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()}
        run(self._conn, select(func.tenantkit.update_current_org_settings(
            uuid_param(org_id), json_value(wire))))

    def convert_to_isolated(self, org_id: str) -> Org:
        """Make an existing org isolated (backend work).

        Refused (Conflict, naming them) while a member belongs to another org;
        the members' accounts then exist only inside this org, its pending
        invites are revoked, and it takes no invites from now on.
        """
        org_id = check_id("org_id", org_id)
        if self._actor.is_end_user:
            raise Forbidden("converting an org to isolated is backend work")
        converted = from_function(orgs, func.tenantkit.convert_org_to_isolated(
            uuid_param(org_id), literal(self._actor.kind),
            json_value(self._actor.audit_metadata())))
        return Org.from_row(run(self._conn, select(converted)).one())

    def delete(self, org_id: str) -> None:
        """Delete the org with its memberships, invites, keys, flags and tenant rows."""
        org_id = check_id("org_id", org_id)
        # The audit row names the org; an end user reads the name through current_org().
        name: ColumnElement[Any] | None = None
        if self._actor.is_end_user:
            name = literal(self.fetch(org_id).name)
        stmt = audited(
            delete(orgs).where(orgs.c.org_id == org_id)
            .returning(*([orgs.c.org_id] if name is not None else [orgs.c.org_id, orgs.c.name])),
            actor=self._actor, action="org.deleted", target_type="org",
            target_id=lambda c: c.org_id, org_id=lambda c: c.org_id,
            row_metadata=lambda c: func.jsonb_build_object(
                "name", name if name is not None else c.name),
        )
        if run(self._conn, stmt).one_or_none() is None:
            raise missing_or_refused(
                self._conn, select(orgs.c.org_id).where(orgs.c.org_id == org_id), "org"
            )
