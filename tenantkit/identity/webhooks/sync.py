"""`IdentitySync`: apply provider events to orgs, users and memberships, exactly once, in order.

One transaction per event, on a service-role engine:
1. record (provider, event id); a replay records nothing and changes nothing;
2. lock the object's version row (`identity_versions`); an event older than the
   last one applied to the object is skipped (recorded, `applied = false`), and
   at equal times only a removal applies: out-of-order delivery never brings
   back a removed membership;
3. apply. An org or user removed by an event is never recreated by a later one
   (providers never reuse ids); a membership may come back with a newer event.

Ids: with `same_ids` (PropelAuth, whose ids are UUIDs), tenantkit's rows carry
the provider's ids, so its tokens bind without any mapping; otherwise (WorkOS)
rows get tenantkit ids and are linked through `orgs.external_id` and
`user_identities`, which `IdentityResolver` reads. Pass that resolver to have
its cache forget a deleted org or user at once (other processes: its TTL;
either way the database no longer finds the membership).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import DBAPIError

from tenantkit.context import UUID_PATTERN
from tenantkit.identity._resolver import IdentityResolver
from tenantkit.identity.webhooks._errors import InvalidWebhook, WebhookNotReady
from tenantkit.identity.webhooks.events import IdentityEvent
from tenantkit.sqlfiles import load_sql

__all__ = ["IdentitySync", "Outcome"]

#: What happened to one delivery.
Outcome = Literal["applied", "duplicate", "stale", "ignored"]


def _statements() -> dict[str, TextClause]:
    found: dict[str, TextClause] = {}
    for part in re.split(r"^-- name: ", load_sql("identity/sync.sql"), flags=re.M)[1:]:
        name, _, body = part.partition("\n")
        found[name.strip()] = text(body)
    return found


_SQL: Final = _statements()


class IdentitySync:
    """Applies `IdentityEvent`s of one provider; see the module docstring.

    roles: the provider's role names -> tenantkit's (e.g. {"admin": "Admin"});
        a role not listed is used as it is (the database checks it exists).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        provider: str,
        same_ids: bool = False,
        roles: Mapping[str, str] | None = None,
        resolver: IdentityResolver | None = None,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.same_ids = same_ids
        self.roles = dict(roles or {})
        self.resolver = resolver

    def apply(self, event: IdentityEvent) -> Outcome:
        """Apply one verified event; idempotent per event id."""
        if event.provider != self.provider:
            raise InvalidWebhook(f"event from {event.provider!r}, sync for {self.provider!r}")
        if self.same_ids:
            for value in (event.org, event.user):
                if value is not None and UUID_PATTERN.fullmatch(value) is None:
                    raise InvalidWebhook("webhook payload: an id is not a UUID")
        with self.engine.begin() as conn:
            keys = {"provider": self.provider, "event_id": event.event_id}
            recorded = conn.execute(
                _SQL["record_event"],
                {**keys, "event_type": event.event_type, "occurred_at": event.occurred_at},
            ).first()
            if recorded is None:
                return "duplicate"
            if event.kind is None:
                conn.execute(_SQL["skip_event"], keys)
                return "ignored"
            newest, removed = self._order(conn, event)
            if not newest:
                conn.execute(_SQL["skip_event"], keys)
                return "stale"
            if removed and event.kind in ("org.upsert", "user.upsert"):
                conn.execute(_SQL["skip_event"], keys)  # never recreated: ids are not reused
                return "ignored"
            self._set_version(conn, event)
            try:
                applied = self._apply(conn, event)
            except DBAPIError as error:
                # An email taken, a limit reached (SQLSTATE 23xxx, tenantkit's TKxxx):
                # the provider's data and tenantkit's disagree. Nothing of the event
                # is kept (rollback). Anything else (the server went away) is raised,
                # answered 5xx, and retried by the provider.
                state = getattr(error.orig, "sqlstate", None) or ""
                if not state.startswith(("23", "TK")):
                    raise
                raise InvalidWebhook(f"event cannot be applied ({state})") from None
            if not applied:
                conn.execute(_SQL["skip_event"], keys)
                return "ignored"
        self._forget(event)
        return "applied"

    def _where(self, event: IdentityEvent) -> dict[str, str]:
        kind, key = event.object_key
        return {"provider": self.provider, "object_kind": kind, "object_key": key}

    def _order(self, conn: Connection, event: IdentityEvent) -> tuple[bool, bool]:
        """(whether the event is the object's newest, whether the object was removed)."""
        where = self._where(event)
        conn.execute(_SQL["claim_version"], where)
        last_at, last_removed = conn.execute(_SQL["lock_version"], where).one()
        if event.occurred_at < last_at:
            return False, last_removed
        if event.occurred_at == last_at and not (event.removes and not last_removed):
            return False, last_removed  # a tie: only a removal of a live object applies
        return True, last_removed

    def _set_version(self, conn: Connection, event: IdentityEvent) -> None:
        conn.execute(
            _SQL["set_version"],
            {**self._where(event), "occurred_at": event.occurred_at, "removed": event.removes},
        )

    def _was_removed(self, conn: Connection, kind: str, key: str) -> bool:
        row = conn.execute(
            _SQL["removed"], {"provider": self.provider, "object_kind": kind, "object_key": key}
        ).first()
        return row is not None and bool(row[0])

    def _org(self, conn: Connection, external: str) -> Any:
        if self.same_ids:
            return conn.execute(_SQL["org_by_id"], {"org_id": external}).scalar()
        return conn.execute(_SQL["org_by_external_id"], {"external_id": external}).scalar()

    def _user(self, conn: Connection, external: str) -> Any:
        if self.same_ids:
            return conn.execute(_SQL["user_by_id"], {"user_id": external}).scalar()
        return conn.execute(
            _SQL["user_by_external_id"], {"provider": self.provider, "external_id": external}
        ).scalar()

    def _apply(self, conn: Connection, event: IdentityEvent) -> bool:
        assert event.kind is not None
        if event.kind == "org.upsert":
            return self._upsert_org(conn, event)
        if event.kind == "user.upsert":
            return self._upsert_user(conn, event)
        if event.kind in ("org.delete", "user.delete"):
            what = event.kind.split(".")[0]
            external = event.org if what == "org" else event.user
            assert external is not None
            found = self._org(conn, external) if what == "org" else self._user(conn, external)
            if found is None:
                return False  # never seen: the version row still refuses a later upsert
            conn.execute(_SQL[f"delete_{what}"], {f"{what}_id": found})
            return True
        assert event.org is not None
        assert event.user is not None
        org_id, user_id = self._org(conn, event.org), self._user(conn, event.user)
        if event.kind == "membership.delete":
            if org_id is None or user_id is None:
                return False
            conn.execute(_SQL["delete_membership"], {"org_id": org_id, "user_id": user_id})
            return True
        if org_id is None or user_id is None:
            if self._was_removed(conn, "org", event.org) or self._was_removed(
                conn, "user", event.user
            ):
                return False  # its org or user is gone: nothing to join
            raise WebhookNotReady("the event's org or user is not synced yet; retry later")
        assert event.role is not None
        conn.execute(
            _SQL["upsert_membership"],
            {
                "org_id": org_id,
                "user_id": user_id,
                "role": self.roles.get(event.role, event.role),
                "status": "active" if event.active else "inactive",
            },
        )
        return True

    def _upsert_org(self, conn: Connection, event: IdentityEvent) -> bool:
        assert event.org is not None
        found = self._org(conn, event.org)
        name = event.name or event.org
        if found is not None:
            conn.execute(_SQL["rename_org"], {"org_id": found, "name": name})
            return True
        conn.execute(
            _SQL["insert_org"],
            {
                "org_id": event.org if self.same_ids else None,
                "name": name,
                "external_id": None if self.same_ids else event.org,
            },
        )
        return True

    def _upsert_user(self, conn: Connection, event: IdentityEvent) -> bool:
        assert event.user is not None
        params = {
            "email": event.email,
            "email_confirmed": event.email_confirmed,
            "first_name": event.first_name,
            "last_name": event.last_name,
        }
        found = self._user(conn, event.user)
        if found is not None:
            conn.execute(_SQL["update_user"], {**params, "user_id": found})
            return True
        created = conn.execute(
            _SQL["insert_user"], {**params, "user_id": event.user if self.same_ids else None}
        ).scalar_one()
        if not self.same_ids:
            conn.execute(
                _SQL["link_user"],
                {"provider": self.provider, "external_id": event.user, "user_id": created},
            )
        return True

    def _forget(self, event: IdentityEvent) -> None:
        if self.resolver is None or self.same_ids or not event.removes:
            return
        if event.kind == "org.delete" and event.org is not None:
            self.resolver.invalidate_org(event.org)
        elif event.kind == "user.delete" and event.user is not None:
            self.resolver.invalidate_user(event.user)
