"""Invites: by email or user id, list pending, revoke, accept by token.

The invite token is returned once by `create`; only its hash is stored.
Acceptance runs in the database (`tenantkit.accept_invite*`): the invite row is
locked, so of two concurrent accepts exactly one creates the membership; an
expired, revoked or already accepted invite is refused (409).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, insert, literal, select, update
from sqlalchemy.orm import aliased

from tenantkit.errors import Conflict, InvalidField, NotFound
from tenantkit.orgs._db import Conn, missing_or_refused, run, uuid_param
from tenantkit.orgs._secrets import hash_secret, new_secret
from tenantkit.orgs._validate import check_email, check_id, check_role, check_roles, check_text
from tenantkit.orgs.actor import Actor
from tenantkit.orgs.audit import audited, json_value
from tenantkit.orgs.models import CreatedInvite, Invite, Page
from tenantkit.orgs.paging import PageRequest, fetch_page
from tenantkit.schema import invites, memberships, orgs, users

__all__ = ["AcceptedInvite", "Invites"]

DEFAULT_EXPIRY: Final = timedelta(days=7)
MAX_EXPIRY: Final = timedelta(days=90)
TOKEN_PREFIX: Final = "tk_inv_"  # noqa: S105 (a label, not a secret)

_inviter = aliased(users, name="inviter")
_COLUMNS: Final = (
    invites.c.invite_id, invites.c.org_id, orgs.c.name.label("org_name"), invites.c.email,
    invites.c.invitee_user_id, invites.c.role, invites.c.additional_roles,
    invites.c.inviter_user_id, _inviter.c.email.label("inviter_email"), invites.c.state,
    invites.c.created_at, invites.c.expires_at,
)
_FROM: Final = invites.join(orgs, orgs.c.org_id == invites.c.org_id).outerjoin(
    _inviter, _inviter.c.user_id == invites.c.inviter_user_id
)


@dataclass(frozen=True, slots=True)
class AcceptedInvite:
    """The membership an accepted invite created."""

    org_id: str
    user_id: str


def _pending() -> ColumnElement[bool]:
    return and_(invites.c.state == "pending", invites.c.expires_at > func.now())


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
        """Invite by `email` or by an existing `user_id` (exactly one); the token is shown once."""
        org_id = check_id("org_id", org_id)
        if (email is None) == (user_id is None):
            raise InvalidField("email", "give exactly one of email or user_id")
        if not timedelta(minutes=1) <= expires_in <= MAX_EXPIRY:
            raise InvalidField("expires_in", "must be between one minute and 90 days")
        invitee: str | None = None
        if user_id is not None:
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
            "invitee_user_id": invitee,
            "role": check_role("role", role),
            "additional_roles": check_roles("additional_roles", additional_roles),
            "inviter_user_id": self._actor.user_id,
            "token_hash": hash_secret(token),
            "expires_at": func.now() + literal(expires_in),
        }
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
        who = users.c.user_id == invitee if invitee else users.c.email == email
        member = run(
            self._conn,
            select(memberships.c.user_id)
            .join(users, users.c.user_id == memberships.c.user_id)
            .where(memberships.c.org_id == org_id, who),
        ).first()
        if member is not None:
            raise Conflict("the user is already a member of this org")

    def _fetch(self, invite_id: str) -> Invite:
        row = run(self._conn, select(*_COLUMNS).select_from(_FROM)
                  .where(invites.c.invite_id == invite_id)).one_or_none()
        if row is None:
            raise NotFound("invite not found")
        return Invite.from_row(row)

    def list_pending(
        self, *, org_id: str | None = None, page: PageRequest | None = None
    ) -> Page[Invite]:
        """Unexpired pending invites, oldest first, of one org or of every org visible."""
        page = page or PageRequest()
        where = [_pending()]
        if org_id is not None:
            where.append(invites.c.org_id == check_id("org_id", org_id))
        rows, total = fetch_page(
            self._conn, columns=list(_COLUMNS), from_=_FROM, where=where,
            keys=[invites.c.created_at, invites.c.invite_id], descending=False, page=page,
        )
        return Page([Invite.from_row(r) for r in rows], total, page.page_number, page.page_size)

    def revoke(self, org_id: str, email: str) -> None:
        """Revoke the pending invite of `email` to `org_id`."""
        org_id, address = check_id("org_id", org_id), check_email("invitee_email", email)
        key = [invites.c.org_id == org_id, invites.c.email == address, _pending()]
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
