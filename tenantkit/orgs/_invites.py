"""Invites: by email or user id, list pending, revoke, accept by token.

The invite token is returned once by `create`; only its hash is stored.
Acceptance runs in the database (`tenantkit.accept_invite*`): the invite row is
locked, so of two concurrent accepts exactly one creates the membership; an
expired, revoked or already accepted invite is refused (409).

An end user with `tenantkit::can_invite` invites by email (never by user id:
that would tell which ids exist) and may revoke a pending invite; nothing else
about an invite changes on their session. Accepting an invite does not confirm
the email: the token goes back to whoever created the invite, so holding it
proves nothing about the mailbox (a domain-restricted org still needs a
confirmed email). How long an invite lives is capped by the project setting
`max_invite_expiry` (default 90 days), which the database enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.types import Text

from tenantkit.errors import Conflict, Forbidden, InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited, json_value
from tenantkit.orgs._db import Conn, missing_or_refused, run, uuid_param
from tenantkit.orgs._paging import PageRequest, fetch_page
from tenantkit.orgs._secrets import hash_secret, new_secret
from tenantkit.orgs._sources import invites_source, orgs_source, users_source
from tenantkit.orgs._validate import check_email, check_id, check_role, check_roles, check_text
from tenantkit.orgs.models import CreatedInvite, Invite, Page
from tenantkit.schema import invites, memberships, users

__all__ = ["AcceptedInvite", "Invites"]

DEFAULT_EXPIRY: Final = timedelta(days=7)
#: The default of `settings.max_invite_expiry`; the database enforces the project's value.
MAX_EXPIRY: Final = timedelta(days=90)
MIN_EXPIRY: Final = timedelta(minutes=1)
TOKEN_PREFIX: Final = "tk_inv_"  # noqa: S105 (a label, not a secret)
#: What `Invites.list` filters on: pending (unexpired) or expired (pending, past its time).
#: The backend sees accepted, revoked and declined invites too.
INVITE_STATES: Final = ("pending", "expired", "accepted", "revoked", "declined")


@dataclass(frozen=True, slots=True)
class AcceptedInvite:
    """The membership an accepted invite created."""

    org_id: str
    user_id: str


def _listing(actor: Actor) -> tuple[FromClause, list[ColumnElement[Any]], FromClause]:
    """The invites source, the `Invite` columns, and the FROM that joins org and inviter."""
    i, o = invites_source(actor), orgs_source(actor)
    inviter = users_source(actor, name="inviter")
    columns: list[ColumnElement[Any]] = [
        i.c.invite_id, i.c.org_id, o.c.name.label("org_name"), i.c.email,
        i.c.invitee_user_id, i.c.role, i.c.additional_roles, i.c.inviter_user_id,
        inviter.c.email.label("inviter_email"), i.c.state, i.c.created_at, i.c.expires_at,
        i.c.delivery_state, i.c.delivery_attempts, i.c.delivery_error, i.c.delivered_at,
    ]
    from_ = i.join(o, o.c.org_id == i.c.org_id).outerjoin(
        inviter, inviter.c.user_id == i.c.inviter_user_id)
    return i, columns, from_


def _pending(i: FromClause) -> ColumnElement[bool]:
    return and_(i.c.state == "pending", i.c.expires_at > func.now())


class Invites:
    """Invitations to join an org."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def create(
        self,
        org_id: str,
        *,
        role: str,
        email: str | None = None,
        user_id: str | None = None,
        additional_roles: Sequence[str] = (),
        expires_in: timedelta = DEFAULT_EXPIRY,
    ) -> CreatedInvite:
        """Invite by `email` or by an existing `user_id` (exactly one); the token is shown once.

        Inviting by `user_id` is backend work (Forbidden to end users). An
        `expires_in` beyond the project's `max_invite_expiry` is refused (400).
        """
        org_id = check_id("org_id", org_id)
        if (email is None) == (user_id is None):
            raise InvalidField("email", "give exactly one of email or user_id")
        if not isinstance(expires_in, timedelta) or expires_in < MIN_EXPIRY:
            raise InvalidField("expires_in", "must be at least one minute")
        invitee: str | None = None
        if user_id is not None:
            if self._actor.is_end_user:
                raise Forbidden("end users invite by email address; inviting a user id is "
                                "backend work")
            invitee = check_id("user_id", user_id)
            found = run(self._conn, select(users.c.email).where(users.c.user_id == invitee))
            email = found.scalar_one_or_none()
            if email is None:
                raise NotFound("user not found")
        address = check_email("email", email)
        self._refuse_members(org_id, address, invitee)
        token = new_secret(TOKEN_PREFIX)
        values: dict[str, Any] = {
            "org_id": org_id,
            "email": address,
            "role": check_role("role", role),
            "additional_roles": check_roles("additional_roles", additional_roles),
            "token_hash": hash_secret(token),
            "expires_at": func.now() + literal(expires_in),
        }
        # Named only when set: an end user may not write invitee_user_id at all.
        if invitee is not None:
            values["invitee_user_id"] = invitee
        if self._actor.user_id is not None:
            values["inviter_user_id"] = self._actor.user_id
        stmt = audited(
            insert(invites).values(**values).returning(invites.c.invite_id, invites.c.org_id,
                                                       invites.c.email, invites.c.role),
            actor=self._actor, action="invite.created", target_type="invite",
            target_id=lambda c: c.invite_id, org_id=lambda c: c.org_id,
            row_metadata=lambda c: func.jsonb_build_object("email", c.email, "role", c.role),
        )
        invite_id = run(self._conn, stmt).one()._mapping["invite_id"]
        return CreatedInvite(self._fetch(invite_id), token)

    def _refuse_members(self, org_id: str, email: str, invitee: str | None) -> None:
        u = users_source(self._actor)
        who = u.c.user_id == invitee if invitee else u.c.email == email
        member = run(
            self._conn,
            select(memberships.c.user_id)
            .join(u, u.c.user_id == memberships.c.user_id)
            .where(memberships.c.org_id == org_id, who),
        ).first()
        if member is not None:
            raise Conflict("the user is already a member of this org")

    def _fetch(self, invite_id: str) -> Invite:
        i, columns, from_ = _listing(self._actor)
        row = run(self._conn, select(*columns).select_from(from_)
                  .where(i.c.invite_id == invite_id)).one_or_none()
        if row is None:
            raise NotFound("invite not found")
        return Invite.from_row(row)

    def list_pending(
        self, *, org_id: str | None = None, page: PageRequest | None = None
    ) -> Page[Invite]:
        """Unexpired pending invites, oldest first, of one org or of every org visible."""
        page = page or PageRequest()
        i, columns, from_ = _listing(self._actor)
        where = [_pending(i)]
        if org_id is not None:
            where.append(i.c.org_id == check_id("org_id", org_id))
        rows, total = fetch_page(
            self._conn, columns=columns, from_=from_, where=where,
            keys=[i.c.created_at, i.c.invite_id], descending=False, page=page,
        )
        return Page([Invite.from_row(r) for r in rows], total, page.page_number, page.page_size)

    def list(
        self, org_id: str, *, state: str = "pending", page: PageRequest | None = None
    ) -> Page[Invite]:
        """Invites of `org_id` in `state`, oldest first (see INVITE_STATES).

        An end user's session sees only the bound org's pending invites (and
        those that expired while pending), for a member who may invite.
        """
        if state not in INVITE_STATES:
            raise InvalidField("state", f"must be one of {', '.join(INVITE_STATES)}")
        page = page or PageRequest()
        i, columns, from_ = _listing(self._actor)
        where: list[ColumnElement[bool]] = [i.c.org_id == check_id("org_id", org_id)]
        if state == "pending":
            where.append(_pending(i))
        elif state == "expired":
            where += [i.c.state == "pending", i.c.expires_at <= func.now()]
        else:
            where.append(i.c.state == state)
        rows, total = fetch_page(
            self._conn, columns=columns, from_=from_, where=where,
            keys=[i.c.created_at, i.c.invite_id], descending=False, page=page,
        )
        return Page([Invite.from_row(r) for r in rows], total, page.page_number, page.page_size)

    def fetch(self, org_id: str, invite_id: str) -> Invite:
        """One invite of `org_id` (NotFound when the caller cannot see it)."""
        org_id, invite_id = check_id("org_id", org_id), check_id("invite_id", invite_id)
        invite = self._fetch(invite_id)
        if invite.org_id != org_id:
            raise NotFound("invite not found")
        return invite

    def revoke_id(self, org_id: str, invite_id: str) -> None:
        """Revoke the pending invite `invite_id` of `org_id`."""
        self.revoke(org_id, self.fetch(org_id, invite_id).email)

    def resend(self, org_id: str, invite_id: str, *,
               expires_in: timedelta = DEFAULT_EXPIRY) -> CreatedInvite:
        """Revoke a pending invite and issue a new one (a new token) with the same roles.

        The old link stops working; only a member who may invite can do either half.
        """
        old = self.fetch(org_id, invite_id)
        self.revoke(org_id, old.email)
        return self.create(org_id, role=old.role, email=old.email,
                           additional_roles=old.additional_roles, expires_in=expires_in)

    def decline(self, token: str) -> str:
        """The bound end user declines the invite `token` was sent with; its org's id."""
        token = check_text("token", token, max_length=200)
        if not token:
            raise InvalidField("token", "is required")
        if not self._actor.is_end_user:
            raise Forbidden("only the invitee declines an invite")
        found = run(self._conn, select(func.tenantkit.decline_invite(literal(token))))
        return str(found.scalar_one())

    def record_delivery(self, invite_id: str, *, sent: bool, error: str | None = None) -> None:
        """Record one attempt to send the invite (in its own transaction, after commit)."""
        invite_id = check_id("invite_id", invite_id)
        if self._actor.is_end_user:
            call = func.tenantkit.record_invite_delivery(
                uuid_param(invite_id), literal(sent), literal(error, Text()))
            if not run(self._conn, select(call)).scalar_one():
                raise NotFound("invite not found")
            return
        stmt = (update(invites).where(invites.c.invite_id == invite_id).values(
            delivery_state="sent" if sent else "failed",
            delivery_attempts=invites.c.delivery_attempts + 1,
            delivery_error=None if sent else (error or "")[:500],
            delivered_at=func.now() if sent else None,
        ).returning(invites.c.invite_id))
        if run(self._conn, stmt).first() is None:
            raise NotFound("invite not found")

    def revoke(self, org_id: str, email: str) -> None:
        """Revoke the pending invite of `email` to `org_id`."""
        org_id, address = check_id("org_id", org_id), check_email("invitee_email", email)
        key = [invites.c.org_id == org_id, invites.c.email == address, _pending(invites)]
        stmt = audited(
            update(invites).where(*key).values(state="revoked")
            .returning(invites.c.invite_id, invites.c.org_id, invites.c.email),
            actor=self._actor, action="invite.revoked", target_type="invite",
            target_id=lambda c: c.invite_id, org_id=lambda c: c.org_id,
            row_metadata=lambda c: func.jsonb_build_object("email", c.email),
        )
        if run(self._conn, stmt).first() is None:
            raise missing_or_refused(
                self._conn, select(invites.c.invite_id).where(*key), "pending invite"
            )

    def accept(self, token: str, *, user_id: str | None = None) -> AcceptedInvite:
        """Accept by token. An end user accepts for themselves; the backend may name
        the user, or leave it to the invite's email (creating the user if needed)."""
        token = check_text("token", token, max_length=200)
        if not token:
            raise InvalidField("token", "is required")
        if self._actor.is_end_user:
            if user_id is not None and check_id("user_id", user_id) != self._actor.user_id:
                raise InvalidField("user_id", "an end user accepts invites for themselves")
            call = func.tenantkit.accept_invite(literal(token))
        else:
            call = func.tenantkit.accept_invite_for(
                literal(token),
                uuid_param(check_id("user_id", user_id) if user_id is not None else None),
                literal(self._actor.kind), uuid_param(self._actor.user_id),
                json_value(self._actor.audit_metadata()),
            )
        result = call.table_valued("accepted_org_id", "accepted_user_id")
        row = run(self._conn, select(result.c.accepted_org_id, result.c.accepted_user_id)).one()
        return AcceptedInvite(str(row._mapping["accepted_org_id"]),
                              str(row._mapping["accepted_user_id"]))
