"""Project-wide settings (one row): who may create orgs, orgs per user, the org word,
how long invites may live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import func, literal, select, update

from tenantkit.errors import InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited
from tenantkit.orgs._db import Conn, run
from tenantkit.orgs._validate import check_name, check_positive
from tenantkit.orgs.models import Settings
from tenantkit.schema import settings

__all__ = ["ProjectSettings"]

UPDATABLE: Final = frozenset({
    "users_can_create_orgs", "all_users_must_be_in_org", "max_orgs_per_user", "org_word",
    "max_invite_expiry",
})


class ProjectSettings:
    """Read and change the settings row (changing is backend work)."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def get(self) -> Settings:
        row = run(self._conn, select(settings)).one_or_none()
        if row is None:
            raise NotFound("settings are not visible to this session")
        return Settings.from_row(row)

    def update(self, **changes: Any) -> Settings:
        clean: dict[str, Any] = {}
        for field, value in changes.items():
            if field not in UPDATABLE:
                raise InvalidField(field, "is not a project setting")
            if field == "max_orgs_per_user":
                clean[field] = None if value is None else check_positive(field, value)
            elif field == "org_word":
                clean[field] = check_name(field, value, max_length=50)
            elif field == "max_invite_expiry":
                if not isinstance(value, timedelta) or value < timedelta(minutes=1):
                    raise InvalidField(field, "must be a duration of at least one minute")
                clean[field] = value
            elif isinstance(value, bool):
                clean[field] = value
            else:
                raise InvalidField(field, "must be true or false")
        stmt = audited(
            update(settings).values(**clean, updated_at=func.now()).returning(*settings.c),
            actor=self._actor, action="settings.updated", target_type="settings",
            target_id=lambda c: literal("settings"), org_id=None,
            metadata={k: v for k, v in clean.items()},
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise NotFound("settings are not visible to this session")
        return Settings.from_row(row)
