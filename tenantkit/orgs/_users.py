"""Users: create, fetch (one or many), search, update, disable, delete, autojoin.

User rows are project-wide, so writing them is backend work: the app role has
no privilege on users, and an end user's attempt is refused (403). An end user
reads the members of their bound org, through `tenantkit.current_org_users()`
(see `_sources`).

Email confirmation is what domain rules trust: only a confirmed email
auto-joins or passes a domain restriction. Changing an email makes it
unconfirmed again (the database enforces it), and confirming it later
(`update(..., email_confirmed=True)`) auto-joins matching orgs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    ColumnElement,
    FromClause,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.types import Text

from tenantkit.errors import FeatureDisabled, Forbidden, InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited, json_value, row_json
from tenantkit.orgs._db import Conn, like_pattern, missing_or_refused, run, uuid_param
from tenantkit.orgs._orginfo import member_infos
from tenantkit.orgs._paging import CursorRequest, PageRequest, fetch_listing
from tenantkit.orgs._sources import users_source
from tenantkit.orgs._validate import (
    MAX_IDS,
    check_email,
    check_id,
    check_ids,
    check_json_object,
    check_name,
    check_text,
)
from tenantkit.orgs.models import Page, User
from tenantkit.schema import users

__all__ = ["UserOrder", "Users"]

UserOrder = Literal[
    "CREATED_AT_ASC", "CREATED_AT_DESC", "LAST_ACTIVE_AT_ASC", "LAST_ACTIVE_AT_DESC",
    "EMAIL", "USERNAME",
]
USER_ORDERS: Final = get_args(UserOrder)

UPDATABLE: Final = frozenset({
    "username", "first_name", "last_name", "picture_url", "metadata", "properties",
    "legacy_user_id", "can_create_orgs", "email_confirmed", "mfa_enabled", "locked",
})
_NULLABLE_TEXT: Final = {"username": 100, "first_name": 200, "last_name": 200,
                         "picture_url": 2000, "legacy_user_id": 200}


def _clean(field: str, value: Any) -> Any:
    if field in _NULLABLE_TEXT:
        if value is None:
            return None
        if field == "username":
            return check_name(field, value, max_length=100)
        return check_text(field, value, max_length=_NULLABLE_TEXT[field])
    if field in ("metadata", "properties"):
        return check_json_object(field, value)
    if field in ("can_create_orgs", "email_confirmed", "mfa_enabled", "locked"):
        if not isinstance(value, bool):
            raise InvalidField(field, "must be true or false")
        return value
    raise InvalidField(field, "is not an updatable user field")


class Users:
    """Project-wide user records."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    # --- create -----------------------------------------------------------------

    def create(
        self,
        email: str,
        *,
        email_confirmed: bool = False,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        picture_url: str | None = None,
        properties: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        legacy_user_id: str | None = None,
        can_create_orgs: bool = True,
        isolated_org_id: str | None = None,
        password: str | None = None,
        autojoin: bool = True,
    ) -> User:
        """A new user; with `autojoin` and a confirmed email they join the orgs
        whose autojoin domains match it.

        An unconfirmed user joins nothing now; they auto-join when the email is
        confirmed (the database does it, whatever `autojoin` said here).
        `autojoin=False` only skips joining at creation. `isolated_org_id`
        creates the user inside that isolated org (the same email may then exist
        once per isolated org and once project-wide).
        """
        if password is not None:
            raise FeatureDisabled("tenantkit stores no passwords; authenticate users elsewhere")
        values: dict[str, Any] = {"email": check_email("email", email)}
        optional = {"username": username, "first_name": first_name, "last_name": last_name,
                    "picture_url": picture_url, "legacy_user_id": legacy_user_id,
                    "properties": properties, "metadata": metadata}
        values.update({k: _clean(k, v) for k, v in optional.items() if v is not None})
        values["email_confirmed"] = _clean("email_confirmed", email_confirmed)
        values["can_create_orgs"] = _clean("can_create_orgs", can_create_orgs)
        if isolated_org_id is not None:
            values["isolated_org_id"] = check_id("isolated_org_id", isolated_org_id)
            self._check_isolated(values["isolated_org_id"])
        stmt = audited(
            insert(users).values(**values).returning(*users.c),
            actor=self._actor, action="user.created", target_type="user",
            target_id=lambda c: c.user_id, org_id=lambda c: c.isolated_org_id,
            row_metadata=row_json("email"),
        )
        user = User.from_row(run(self._conn, stmt).one())
        if autojoin and user.email_confirmed and isolated_org_id is None:
            self.autojoin(user.user_id)
        return user

    def _check_isolated(self, org_id: str) -> None:
        from tenantkit.schema import orgs

        isolated = run(self._conn, select(orgs.c.isolated).where(orgs.c.org_id == org_id))
        flag = isolated.scalar_one_or_none()
        if flag is None:
            raise InvalidField("isolated_org_id", "no such org")
        if not flag:
            raise InvalidField("isolated_org_id", "the org is not isolated")

    def autojoin(self, user_id: str) -> list[str]:
        """Join the user to every org whose autojoin domains match their email; the org ids.

        Joins nothing while the email is unconfirmed (backend work: refused to end users).
        """
        user_id = check_id("user_id", user_id)
        joined = run(self._conn, select(func.tenantkit.autojoin_by_domain(
            uuid_param(user_id), literal(self._actor.kind), uuid_param(self._actor.user_id),
            json_value(self._actor.audit_metadata()),
        )))
        return [str(org_id) for org_id in joined.scalars()]

    # --- read -------------------------------------------------------------------

    def fetch(self, user_id: str, *, include_orgs: bool = False) -> User:
        user_id = check_id("user_id", user_id)
        return self._one(lambda u: u.c.user_id == user_id, include_orgs, user_ids=[user_id])

    def touch_current(self) -> None:
        """The bound end user was active: stamp `last_active_at` (at most once a minute)."""
        if not self._actor.is_end_user:
            raise Forbidden("only an end user's session has a current user")
        run(self._conn, select(func.tenantkit.touch_current_user()))

    def fetch_by_email(
        self, email: str, *, include_orgs: bool = False, isolated_org_id: str | None = None
    ) -> User:
        """The user with `email` project-wide, or inside the isolated org given."""
        address = check_email("email", email)
        scope = self._scope(isolated_org_id)
        return self._one(lambda u: (u.c.email == address) & scope(u), include_orgs)

    def fetch_by_username(
        self, username: str, *, include_orgs: bool = False, isolated_org_id: str | None = None
    ) -> User:
        wanted = check_name("username", username).lower()
        scope = self._scope(isolated_org_id)
        return self._one(lambda u: (func.lower(u.c.username) == wanted) & scope(u), include_orgs)

    def fetch_many(
        self,
        *,
        user_ids: Iterable[str] | None = None,
        emails: Iterable[str] | None = None,
        usernames: Iterable[str] | None = None,
        include_orgs: bool = False,
    ) -> dict[str, User]:
        """Users found by exactly one kind of key, keyed by that key (missing ones left out)."""
        given = [(n, v) for n, v in (("user_ids", user_ids), ("emails", emails),
                                     ("usernames", usernames)) if v is not None]
        if len(given) != 1:
            raise InvalidField("user_ids", "give exactly one of user_ids, emails or usernames")
        name, values = given[0]
        if isinstance(values, str):
            raise InvalidField(name, "must be a list")
        wanted = list(values)
        if len(wanted) > MAX_IDS:
            raise InvalidField(name, f"at most {MAX_IDS} values")
        u = users_source(self._actor, user_ids=check_ids(name, wanted)
                         if name == "user_ids" else None)
        column: ColumnElement[Any]
        if name == "user_ids":
            keys = check_ids(name, wanted)
            column = u.c.user_id
        elif name == "emails":
            keys = list(dict.fromkeys(check_email(name, v) for v in wanted))
            column = u.c.email
        else:
            keys = list(dict.fromkeys(check_name(name, v, max_length=100).lower() for v in wanted))
            column = func.lower(u.c.username)
        where: ColumnElement[bool] = column.in_(keys)
        if name != "user_ids":
            where = where & u.c.isolated_org_id.is_(None)
        found = self._many(u, where, include_orgs)
        by_key: dict[str, User] = {}
        for user in found:
            key = {"user_ids": user.user_id, "emails": user.email,
                   "usernames": (user.username or "").lower()}[name]
            by_key[key] = user
        return by_key

    def query(
        self,
        *,
        page: PageRequest | None = None,
        order_by: UserOrder = "CREATED_AT_ASC",
        email_or_username: str | None = None,
        legacy_user_id: str | None = None,
        include_orgs: bool = False,
        cursor: CursorRequest | None = None,
    ) -> Page[User]:
        """Users whose email or username contains `email_or_username` (case-insensitive).

        On an end user's session: the members of the bound org only. With
        `cursor`, the page before or after a cursor instead of a page number
        (`Page.before` / `Page.after` carry the next cursors, on numbered pages too).
        """
        page = page or PageRequest()
        if order_by not in USER_ORDERS:
            raise InvalidField("order_by", f"must be one of {', '.join(USER_ORDERS)}")
        u = users_source(self._actor)
        where: list[ColumnElement[bool]] = []
        if email_or_username is not None:
            text = check_text("email_or_username", email_or_username, max_length=320)
            pattern = like_pattern(text)
            where.append(or_(u.c.email.ilike(pattern), u.c.username.ilike(pattern)))
        if legacy_user_id is not None:
            where.append(u.c.legacy_user_id == check_text("legacy_user_id", legacy_user_id))
        keys: list[ColumnElement[Any]]
        if order_by.startswith("CREATED_AT"):
            keys = [u.c.created_at, u.c.user_id]
        elif order_by.startswith("LAST_ACTIVE_AT"):
            # Never-active users sort first ascending; a key must not be NULL.
            never = literal("-infinity").cast(users.c.created_at.type)
            keys = [func.coalesce(u.c.last_active_at, never), u.c.user_id]
        elif order_by == "EMAIL":
            keys = [u.c.email, u.c.user_id]
        else:
            keys = [func.coalesce(func.lower(u.c.username), "", type_=Text()), u.c.user_id]
        listing = fetch_listing(
            self._conn, columns=list(u.c), from_=u, where=where, keys=keys,
            descending=order_by.endswith("_DESC"), page=cursor or page,
        )
        return Page(self._with_orgs(listing.rows, include_orgs), listing.total,
                    listing.page_number, listing.page_size,
                    before=listing.before, after=listing.after)

    @staticmethod
    def _scope(isolated_org_id: str | None) -> Callable[[FromClause], ColumnElement[bool]]:
        if isolated_org_id is None:
            return lambda u: u.c.isolated_org_id.is_(None)
        org_id = check_id("isolated_org_id", isolated_org_id)
        return lambda u: u.c.isolated_org_id == org_id

    def _one(self, where: Callable[[FromClause], ColumnElement[bool]], include_orgs: bool,
             user_ids: Sequence[str] | None = None) -> User:
        u = users_source(self._actor, user_ids=user_ids)
        found = self._many(u, where(u), include_orgs)
        if not found:
            raise NotFound("user not found")
        return found[0]

    def _many(self, u: FromClause, where: ColumnElement[bool], include_orgs: bool) -> list[User]:
        rows = run(self._conn, select(u).where(where).order_by(u.c.user_id)).all()
        return self._with_orgs(rows, include_orgs)

    def _with_orgs(self, rows: Sequence[Any], include_orgs: bool) -> list[User]:
        if not include_orgs:
            return [User.from_row(r) for r in rows]
        infos = member_infos(self._conn, self._actor, [r._mapping["user_id"] for r in rows])
        return [User.from_row(r, infos.get(r._mapping["user_id"], ())) for r in rows]

    # --- write ------------------------------------------------------------------

    def update(self, user_id: str, **changes: Any) -> User:
        """Change the given fields (see UPDATABLE); None clears an optional text field."""
        clean = {k: _clean(k, v) for k, v in changes.items()}
        return self._update(user_id, clean, "user.updated", {"changed": sorted(clean)})

    def update_email(self, user_id: str, new_email: str, *,
                     require_email_confirmation: bool = True) -> User:
        """Change the email; it is unconfirmed until confirmed (PropelAuth's semantics).

        `require_email_confirmation=False` confirms the new address at once, in
        a second statement (the database never lets a changed email keep the
        old confirmation), which auto-joins orgs of its domain.
        """
        email = check_email("new_email", new_email)
        changed = self._update(user_id, {"email": email}, "user.email_changed", {"email": email})
        if require_email_confirmation:
            return changed
        return self._update(user_id, {"email_confirmed": True}, "user.email_confirmed",
                            {"email": email})

    def disable(self, user_id: str) -> User:
        """Disabled users keep their memberships but are no member anywhere until enabled."""
        return self._update(user_id, {"enabled": False}, "user.disabled", {})

    def enable(self, user_id: str) -> User:
        return self._update(user_id, {"enabled": True}, "user.enabled", {})

    def _update(self, user_id: str, values: dict[str, Any], action: str,
                metadata: dict[str, Any]) -> User:
        user_id = check_id("user_id", user_id)
        if not values:
            return self.fetch(user_id)
        stmt = audited(
            update(users).where(users.c.user_id == user_id).values(**values).returning(*users.c),
            actor=self._actor, action=action, target_type="user",
            target_id=lambda c: c.user_id, org_id=lambda c: c.isolated_org_id,
            metadata=metadata,
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise missing_or_refused(
                self._conn, select(users.c.user_id).where(users.c.user_id == user_id), "user"
            )
        return User.from_row(row)

    def delete(self, user_id: str) -> None:
        """Delete the user and their memberships (their audit trail stays)."""
        user_id = check_id("user_id", user_id)
        stmt = audited(
            delete(users).where(users.c.user_id == user_id)
            .returning(users.c.user_id, users.c.email, users.c.isolated_org_id),
            actor=self._actor, action="user.deleted", target_type="user",
            target_id=lambda c: c.user_id, org_id=lambda c: c.isolated_org_id,
            row_metadata=row_json("email"),
        )
        if run(self._conn, stmt).one_or_none() is None:
            raise missing_or_refused(
                self._conn, select(users.c.user_id).where(users.c.user_id == user_id), "user"
            )

