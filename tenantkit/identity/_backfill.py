"""Backfill from PropelAuth (or any PropelAuth-compatible backend API) through propelauth-py.

    auth = init_base_auth(auth_url, integration_api_key)       # propelauth_py
    report = backfill_propelauth(auth, IdentitySync(service, provider="propelauth",
                                                    same_ids=True))

Pages through every org (`fetch_org_by_query`) and its users with their roles
(`fetch_users_in_org(include_orgs=True)`), and feeds the sync the same events a
webhook would (org, user, membership upserts), then removes members of those
orgs that the provider no longer lists. Every event is dated at the start of
the backfill: a webhook newer than that (a removal during the backfill) wins,
and an older one the snapshot already reflects is skipped. Event ids are
unique per run, so a second run re-applies the provider's current state.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenantkit.identity.webhooks.events import IdentityEvent, Kind
from tenantkit.identity.webhooks.sync import _SQL, IdentitySync, Outcome

__all__ = ["BackfillReport", "backfill_propelauth", "point_propelauth_py_at"]


@dataclass
class BackfillReport:
    """How many events of each outcome, and how many orgs and users were read."""

    orgs: int = 0
    users: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def backfill_propelauth(auth: Any, sync: IdentitySync, *, page_size: int = 100) -> BackfillReport:
    """Bring tenantkit's orgs, users and memberships in line with the provider's now."""
    started = datetime.now(UTC)
    run = started.strftime("%Y%m%dT%H%M%S.%fZ")
    report = BackfillReport()

    def apply(kind: Kind, key: str, **fields: Any) -> None:
        event = IdentityEvent(
            provider=sync.provider, event_id=f"backfill:{run}:{kind}:{key}",
            event_type=f"backfill.{kind}", occurred_at=started, kind=kind, **fields,
        )
        report.count(sync.apply(event))

    seen_users: set[str] = set()
    page = 0
    while True:
        orgs = auth.fetch_org_by_query(page_size=page_size, page_number=page)
        for org in orgs.orgs:
            report.orgs += 1
            apply("org.upsert", org.org_id, org=org.org_id, name=org.name)
            members: set[str] = set()
            user_page = 0
            while True:
                users = auth.fetch_users_in_org(
                    org.org_id, page_size=page_size, page_number=user_page, include_orgs=True
                )
                for user in users.users:
                    if user.user_id not in seen_users:
                        seen_users.add(user.user_id)
                        report.users += 1
                        apply("user.upsert", user.user_id, user=user.user_id, email=user.email,
                              email_confirmed=bool(user.email_confirmed),
                              first_name=user.first_name, last_name=user.last_name)
                    info = (user.org_id_to_org_info or {}).get(org.org_id)
                    if info is None:
                        continue
                    members.add(user.user_id)
                    role = info.get("user_role") if isinstance(info, dict) else getattr(
                        info, "user_assigned_role", None
                    )
                    apply("membership.upsert", f"{org.org_id}:{user.user_id}",
                          org=org.org_id, user=user.user_id, role=role)
                if not users.has_more_results:
                    break
                user_page += 1
            with sync.engine.connect() as conn:
                present = {row[0] for row in conn.execute(
                    _SQL["members_of_org"], {"org_id": org.org_id})}
            for gone in sorted(present - members):
                apply("membership.delete", f"{org.org_id}:{gone}", org=org.org_id, user=gone)
        if not orgs.has_more_results:
            break
        page += 1
    return report


def point_propelauth_py_at(base_url: str) -> None:
    """Send propelauth-py's backend calls to `base_url` (a PropelAuth-compatible API,
    such as `tenantkit serve`) instead of PropelAuth's: it has no option for it, so
    its endpoint constants are rewritten, once, for this process."""
    import propelauth_py.api as api

    default = api.BACKEND_API_BASE_URL
    base = base_url.rstrip("/")
    for module_info in pkgutil.iter_modules(api.__path__):
        module = importlib.import_module(f"{api.__name__}.{module_info.name}")
        for name, value in list(vars(module).items()):
            if name.endswith("URL") and isinstance(value, str) and value.startswith(default):
                setattr(module, name, base + value[len(default):])
    api.BACKEND_API_BASE_URL = base
