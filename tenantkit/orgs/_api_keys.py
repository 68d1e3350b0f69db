"""API keys: integration keys (the backend REST API) and org keys.

The secret is returned once by `create`; only its SHA-256 and a short prefix
are stored. Validation finds a key by hash and returns it with its org and
permissions; archived or expired keys are refused (401).

An end user with `tenantkit::can_manage_api_keys` creates org keys of the
bound org only: no other kind, bound to no user, `created_by` themselves, and
carrying only permissions they hold (an empty list is fine). They may archive
a key but never un-archive one; validating keys (which reads the hashes) is
backend work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, func, insert, or_, select, update

from tenantkit.errors import InvalidField, Unauthorized
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited
from tenantkit.orgs._db import Conn, missing_or_refused, run
from tenantkit.orgs._paging import PageRequest, fetch_page
from tenantkit.orgs._secrets import PREFIX_LENGTH, hash_secret, new_secret
from tenantkit.orgs._sources import orgs_source
from tenantkit.orgs._validate import check_id, check_json_object, check_text
from tenantkit.orgs.models import ApiKey, ApiKeyValidation, CreatedApiKey, Org, Page
from tenantkit.schema import api_keys

__all__ = ["ApiKeyKind", "ApiKeys"]

ApiKeyKind = Literal["integration", "org", "user"]
_PREFIXES: Final = {"integration": "tk_int_", "org": "tk_org_", "user": "tk_usr_"}
_PUBLIC: Final = tuple(c for c in api_keys.c if c.name != "secret_hash")
# A key used again within this window is not re-stamped: validation stays a read.
_TOUCH_EVERY: Final = timedelta(minutes=1)


def _usable() -> ColumnElement[bool]:
    return api_keys.c.archived_at.is_(None) & or_(
        api_keys.c.expires_at.is_(None), api_keys.c.expires_at > func.now()
    )


class ApiKeys:
    """Create, list, validate and archive API keys."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def create(
        self,
        *,
        kind: ApiKeyKind = "org",
        org_id: str | None = None,
        user_id: str | None = None,
        name: str = "",
        permissions: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> CreatedApiKey:
        """A new key; the secret in the result is never shown again."""
        if kind not in _PREFIXES:
            raise InvalidField("kind", "must be integration, org or user")
        if kind == "org" and org_id is None:
            raise InvalidField("org_id", "an org key needs an org")
        if kind == "user" and user_id is None:
            raise InvalidField("user_id", "a user key needs a user")
        if kind == "integration" and (org_id or user_id):
            raise InvalidField("org_id", "an integration key belongs to no org or user")
        if isinstance(permissions, str) or not all(
            isinstance(p, str) and 0 < len(p) <= 200 for p in permissions
        ):
            raise InvalidField("permissions", "must be a list of non-empty strings")
        if expires_at is not None and not isinstance(expires_at, datetime):
            raise InvalidField("expires_at", "must be a timestamp")
        secret = new_secret(_PREFIXES[kind])
        values: dict[str, Any] = {
            "kind": kind,
            "org_id": check_id("org_id", org_id) if org_id is not None else None,
            "name": check_text("name", name, max_length=200),
            "permissions": list(dict.fromkeys(permissions)),
            "metadata": check_json_object("metadata", metadata or {}),
            "secret_hash": hash_secret(secret),
            "prefix": secret[:PREFIX_LENGTH],
            "created_by": self._actor.user_id,
            "expires_at": expires_at,
        }
        # Named only when set: an end user may not write user_id at all.
        if user_id is not None:
            values["user_id"] = check_id("user_id", user_id)
        stmt = audited(
            insert(api_keys).values(**values).returning(*_PUBLIC),
            actor=self._actor, action="api_key.created", target_type="api_key",
            target_id=lambda c: c.api_key_id, org_id=lambda c: c.org_id,
            metadata={"kind": kind, "name": values["name"]},
        )
        return CreatedApiKey(ApiKey.from_row(run(self._conn, stmt).one()), secret)

    def list(
        self,
        *,
        org_id: str | None = None,
        kind: ApiKeyKind | None = None,
        archived: bool = False,
        page: PageRequest | None = None,
    ) -> Page[ApiKey]:
        """Keys, newest first: current ones, or only archived ones with `archived`."""
        page = page or PageRequest()
        where: list[ColumnElement[bool]] = [
            api_keys.c.archived_at.is_not(None) if archived else api_keys.c.archived_at.is_(None)
        ]
        if org_id is not None:
            where.append(api_keys.c.org_id == check_id("org_id", org_id))
        if kind is not None:
            if kind not in _PREFIXES:
                raise InvalidField("kind", "must be integration, org or user")
            where.append(api_keys.c.kind == kind)
        rows, total = fetch_page(
            self._conn, columns=list(_PUBLIC), from_=api_keys, where=where,
            keys=[api_keys.c.created_at, api_keys.c.api_key_id], descending=True, page=page,
        )
        return Page([ApiKey.from_row(r) for r in rows], total, page.page_number, page.page_size)

    def validate(self, secret: str, *, kind: ApiKeyKind | None = None) -> ApiKeyValidation:
        """The key for `secret` with its org; Unauthorized if unknown, archived or expired."""
        # Secrets are ASCII; anything else (a lone surrogate cannot even be hashed) is no key.
        if not isinstance(secret, str) or not 0 < len(secret) <= 200 or not secret.isascii():
            raise Unauthorized("invalid API key")
        where = [api_keys.c.secret_hash == hash_secret(secret.strip()), _usable()]
        if kind is not None:
            where.append(api_keys.c.kind == kind)
        row = run(self._conn, select(*_PUBLIC).where(*where)).one_or_none()
        if row is None:
            raise Unauthorized("invalid API key")
        key = ApiKey.from_row(row)
        if key.last_used_at is None or _stale(key.last_used_at):
            run(self._conn, update(api_keys).where(api_keys.c.api_key_id == key.api_key_id)
                .values(last_used_at=func.now()))
        org = None
        if key.org_id is not None:
            visible = orgs_source(self._actor)
            org_row = run(self._conn, select(visible).where(visible.c.org_id == key.org_id))
            org = Org.from_row(org_row.one())
        return ApiKeyValidation(key, org)

    def archive(self, api_key_id: str) -> ApiKey:
        """Archive a key: it stops validating at once and is kept for the record."""
        api_key_id = check_id("api_key_id", api_key_id)
        key = [api_keys.c.api_key_id == api_key_id, api_keys.c.archived_at.is_(None)]
        stmt = audited(
            update(api_keys).where(*key).values(archived_at=func.now()).returning(*_PUBLIC),
            actor=self._actor, action="api_key.archived", target_type="api_key",
            target_id=lambda c: c.api_key_id, org_id=lambda c: c.org_id,
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise missing_or_refused(self._conn, select(api_keys.c.api_key_id).where(*key),
                                     "API key")
        return ApiKey.from_row(row)


def _stale(last_used_at: datetime) -> bool:
    now = datetime.now(last_used_at.tzinfo)
    return now - last_used_at > _TOUCH_EVERY
