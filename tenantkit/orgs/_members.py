"""Members: add, change role, remove, deactivate, reactivate, list.

Every rule lives in the database: the membership trigger enforces max_users
(under concurrency), domain_restrict (confirmed emails only), isolated orgs,
the per-user org limit and known roles; on an end-user session the policies
require the matching `tenantkit::` permission and refuse granting or touching
a role above the caller's own.

Adding a member is backend work. End users never enrol anyone directly: people
join by accepting an invite, by creating an org, or by domain auto-join.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    any_,
    column,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.types import DateTime, Text

from tenantkit.errors import Forbidden, InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited, row_json
from tenantkit.orgs._db import Conn, missing_or_refused, run
from tenantkit.orgs._orginfo import member_infos
from tenantkit.orgs._paging import CursorRequest, PageRequest, fetch_listing
from tenantkit.orgs._sources import users_source
from tenantkit.orgs._validate import check_id, check_role, check_roles
from tenantkit.orgs.models import Member, Membership, Page, User, UserOrg
from tenantkit.schema import memberships

__all__ = ["Members"]

_RETURNING = (memberships.c.org_id, memberships.c.user_id, memberships.c.role,
              memberships.c.additional_roles, memberships.c.status, memberships.c.created_at)


class Members:
    """Memberships of users in orgs."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def add(self, org_id: str, user_id: str, role: str,
            additional_roles: Sequence[str] = ()) -> Membership:
        """Add `user_id` to `org_id` with `role` (LimitReached when the org is full).

        Backend work: an end user (even an Owner) gets Forbidden, whoever the
        user is; invite them instead.
        """
        if self._actor.is_end_user:
            raise Forbidden("end users cannot add members directly: invite them instead")
        values = {
            "org_id": check_id("org_id", org_id),
            "user_id": check_id("user_id", user_id),
            "role": check_role("role", role),
            "additional_roles": check_roles("additional_roles", additional_roles),
        }
        stmt = audited(
            insert(memberships).values(**values).returning(*_RETURNING),
            actor=self._actor, action="member.added", target_type="user",
            target_id=lambda c: c.user_id, org_id=lambda c: c.org_id,
            row_metadata=row_json("role", "additional_roles"),
        )
        return Membership.from_row(run(self._conn, stmt).one())

    def change_role(self, org_id: str, user_id: str, role: str,
                    additional_roles: Sequence[str] = ()) -> Membership:
        return self._update(
            org_id, user_id,
            {"role": check_role("role", role),
             "additional_roles": check_roles("additional_roles", additional_roles)},
            "member.role_changed",
        )

    def deactivate(self, org_id: str, user_id: str) -> Membership:
        """Keep the membership but make it count for nothing (and free a seat)."""
        return self._update(org_id, user_id, {"status": "inactive"}, "member.deactivated")

    def reactivate(self, org_id: str, user_id: str) -> Membership:
        """Make an inactive membership count again; the org's limits apply."""
        return self._update(org_id, user_id, {"status": "active"}, "member.reactivated")

    def remove(self, org_id: str, user_id: str) -> None:
        org_id, user_id = check_id("org_id", org_id), check_id("user_id", user_id)
        stmt = audited(
            delete(memberships).where(*self._key(org_id, user_id)).returning(*_RETURNING),
            actor=self._actor, action="member.removed", target_type="user",
            target_id=lambda c: c.user_id, org_id=lambda c: c.org_id,
            row_metadata=row_json("role"),
        )
        if run(self._conn, stmt).one_or_none() is None:
            raise self._refused(org_id, user_id)

    def fetch(self, org_id: str, user_id: str) -> Membership:
        org_id, user_id = check_id("org_id", org_id), check_id("user_id", user_id)
        row = run(self._conn, select(*_RETURNING).where(*self._key(org_id, user_id))).one_or_none()
        if row is None:
            raise self._refused(org_id, user_id)
        return Membership.from_row(row)

    def detail(self, org_id: str, user_id: str) -> Member:
        """One member with their profile (NotFound when the caller cannot see them)."""
        membership = self.fetch(org_id, user_id)
        people = users_source(self._actor, user_ids=[membership.user_id])
        row = run(self._conn, select(people).where(
            people.c.user_id == membership.user_id)).one_or_none()
        if row is None:
            raise NotFound("membership not found")
        return Member(User.from_row(row), membership)

    def of_current_user(self) -> list[UserOrg]:
        """The bound end user's own memberships in every org, by org name.

        Read through `tenantkit.current_user_orgs()`, which answers for the
        bound user only (nothing without a binding, or for a disabled user).
        """
        if not self._actor.is_end_user:
            raise Forbidden("only an end user's session has a current user")
        source = func.tenantkit.current_user_orgs().table_valued(
            column("org_id", PG_UUID(as_uuid=False)), column("org_name", Text()),
            column("url_safe_org_name", Text()), column("role", Text()),
            column("additional_roles", ARRAY(Text())), column("status", Text()),
            column("joined_at", DateTime(timezone=True))).alias("mine")
        return [UserOrg.from_row(r) for r in run(self._conn, select(source))]

    def list(
        self,
        org_id: str,
        *,
        page: PageRequest | None = None,
        role: str | None = None,
        include_inactive: bool = False,
        include_orgs: bool = False,
        cursor: CursorRequest | None = None,
    ) -> Page[Member]:
        """Members of `org_id` in the order they joined; `role` matches any role held.

        With `cursor`, the page before or after a cursor instead of a page number:
        a walk by cursor sees every member who stayed exactly once while others
        join or leave (page numbers shift).
        """
        org_id = check_id("org_id", org_id)
        page = page or PageRequest()
        where: list[ColumnElement[bool]] = [memberships.c.org_id == org_id]
        if role is not None:
            wanted = check_role("role", role)
            where.append(or_(memberships.c.role == wanted,
                             literal(wanted) == any_(memberships.c.additional_roles)))
        if not include_inactive:
            where.append(memberships.c.status == "active")
        listing = fetch_listing(
            self._conn, columns=list(_RETURNING), from_=memberships, where=where,
            keys=[memberships.c.created_at, memberships.c.user_id], descending=False,
            page=cursor or page,
        )
        rows = listing.rows
        # The page's users come in a second query, by id: for an end user that
        # is current_org_users(ids), which reads only the bound org's members.
        ids = [row._mapping["user_id"] for row in rows]
        people = users_source(self._actor, user_ids=ids)
        found = {r._mapping["user_id"]: r for r in
                 run(self._conn, select(people).where(people.c.user_id.in_(ids)))} if ids else {}
        infos = member_infos(self._conn, self._actor, ids) if include_orgs else {}
        items = []
        for row in rows:
            user = found.get(row._mapping["user_id"])
            if user is None:  # deleted between the two reads
                continue
            orgs = infos.get(row._mapping["user_id"], ()) if include_orgs else None
            items.append(Member(User.from_row(user, orgs), Membership.from_row(row)))
        return Page(items, listing.total, listing.page_number, listing.page_size,
                    before=listing.before, after=listing.after)

    # --- helpers ----------------------------------------------------------------

    @staticmethod
    def _key(org_id: str, user_id: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return memberships.c.org_id == org_id, memberships.c.user_id == user_id

    def _update(self, org_id: str, user_id: str, values: dict[str, Any],
                action: str) -> Membership:
        org_id, user_id = check_id("org_id", org_id), check_id("user_id", user_id)
        if not values:
            raise InvalidField("role", "nothing to change")
        stmt = audited(
            update(memberships).where(*self._key(org_id, user_id)).values(**values)
            .returning(*_RETURNING),
            actor=self._actor, action=action, target_type="user",
            target_id=lambda c: c.user_id, org_id=lambda c: c.org_id,
            row_metadata=row_json("role", "additional_roles", "status"),
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise self._refused(org_id, user_id)
        return Membership.from_row(row)

    def _refused(self, org_id: str, user_id: str) -> Exception:
        visible = select(memberships.c.user_id).where(*self._key(org_id, user_id))
        return missing_or_refused(self._conn, visible, "membership")
