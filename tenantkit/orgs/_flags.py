"""Feature flags per org: set, list, check. Members read them; changing needs
`tenantkit::can_update_org` on an end-user session."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from tenantkit.errors import InvalidField
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited, row_json
from tenantkit.orgs._db import Conn, missing_or_refused, run
from tenantkit.orgs._validate import check_id, check_name
from tenantkit.orgs.models import FeatureFlag
from tenantkit.schema import feature_flags

__all__ = ["FeatureFlags"]


class FeatureFlags:
    """Named switches (with an optional JSON value) per org."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def set(self, org_id: str, name: str, *, enabled: bool = True,
            value: Any = None) -> FeatureFlag:
        """Create or change the flag `name` of `org_id`."""
        org_id, name = check_id("org_id", org_id), check_name("name", name, max_length=100)
        if not isinstance(enabled, bool):
            raise InvalidField("enabled", "must be true or false")
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidField("value", "must be JSON") from exc
        if "\\u0000" in encoded:
            raise InvalidField("value", "must not contain NUL characters")
        upsert = insert(feature_flags).values(
            org_id=org_id, name=name, enabled=enabled, value=value
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[feature_flags.c.org_id, feature_flags.c.name],
            set_={"enabled": upsert.excluded.enabled, "value": upsert.excluded.value,
                  "updated_at": func.now()},
        )
        stmt = audited(
            upsert.returning(*feature_flags.c),
            actor=self._actor, action="feature_flag.set", target_type="feature_flag",
            target_id=lambda c: c.name, org_id=lambda c: c.org_id,
            row_metadata=row_json("enabled", "value"),
        )
        return FeatureFlag.from_row(run(self._conn, stmt).one())

    def list(self, org_id: str) -> list[FeatureFlag]:
        org_id = check_id("org_id", org_id)
        rows = run(self._conn, select(feature_flags).where(feature_flags.c.org_id == org_id)
                   .order_by(feature_flags.c.name))
        return [FeatureFlag.from_row(r) for r in rows]

    def is_enabled(self, org_id: str, name: str) -> bool:
        """Whether the flag is set and enabled; an unknown flag is off."""
        org_id, name = check_id("org_id", org_id), check_name("name", name, max_length=100)
        found = run(self._conn, select(feature_flags.c.enabled).where(
            feature_flags.c.org_id == org_id, feature_flags.c.name == name))
        return bool(found.scalar_one_or_none())

    def remove(self, org_id: str, name: str) -> None:
        org_id, name = check_id("org_id", org_id), check_name("name", name, max_length=100)
        key = [feature_flags.c.org_id == org_id, feature_flags.c.name == name]
        stmt = audited(
            delete(feature_flags).where(*key).returning(*feature_flags.c),
            actor=self._actor, action="feature_flag.removed", target_type="feature_flag",
            target_id=lambda c: c.name, org_id=lambda c: c.org_id,
        )
        if run(self._conn, stmt).one_or_none() is None:
            raise missing_or_refused(self._conn, select(feature_flags.c.name).where(*key),
                                     "feature flag")
