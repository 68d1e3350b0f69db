"""Email domains of an org: the primary `domain`, `extra_domains`, and their rules.

- autojoin (`domain_autojoin`): new users whose email matches join the org
  (`Users.create(..., autojoin=True)` or `Users.autojoin`) with its last role;
- restrict (`domain_restrict`): only matching emails may become members or be
  invited (enforced by the membership and invite triggers).
"""

from __future__ import annotations

from sqlalchemy import func, literal, select, update

from tenantkit.errors import InvalidField
from tenantkit.orgs._db import Conn, missing_or_refused, run
from tenantkit.orgs._validate import check_domain, check_id
from tenantkit.orgs.actor import Actor
from tenantkit.orgs.audit import audited
from tenantkit.orgs.models import Org
from tenantkit.orgs.orgs import Orgs
from tenantkit.schema import orgs

__all__ = ["Domains"]


class Domains:
    """Add and remove an org's domains; set its autojoin and restrict rules."""

    def __init__(self, conn: Conn, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor

    def add(self, org_id: str, domain: str) -> Org:
        """Add `domain`: as the primary domain when the org has none, else as an extra one."""
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        current = Orgs(self._conn, self._actor).fetch(org_id)
        if domain == current.domain or domain in current.extra_domains:
            return current
        values: dict[str, object] = (
            {"domain": domain} if current.domain is None
            else {"extra_domains": func.array_append(orgs.c.extra_domains, literal(domain))})
        return self._update(org_id, values, "org.domain_added", domain)

    def remove(self, org_id: str, domain: str) -> Org:
        """Remove `domain`; the primary domain cannot go while the org restricts to it."""
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        current = Orgs(self._conn, self._actor).fetch(org_id)
        if domain == current.domain:
            if current.domain_restrict:
                raise InvalidField("domain", "turn off domain_restrict before removing it")
            values: dict[str, object] = {"domain": None}
        elif domain in current.extra_domains:
            values = {"extra_domains": func.array_remove(orgs.c.extra_domains, literal(domain))}
        else:
            raise InvalidField("domain", "is not one of the org's domains")
        return self._update(org_id, values, "org.domain_removed", domain)

    def set_rules(self, org_id: str, *, autojoin: bool | None = None,
                  restrict: bool | None = None) -> Org:
        """Turn domain autojoin and/or domain restriction on or off."""
        changes = {k: v for k, v in (("domain_autojoin", autojoin),
                                     ("domain_restrict", restrict)) if v is not None}
        return Orgs(self._conn, self._actor).update(org_id, **changes)

    def _update(self, org_id: str, values: dict[str, object], action: str, domain: str) -> Org:
        stmt = audited(
            update(orgs).where(orgs.c.org_id == org_id).values(**values).returning(*orgs.c),
            actor=self._actor, action=action, target_type="org",
            target_id=lambda c: c.org_id, org_id=lambda c: c.org_id,
            metadata={"domain": domain},
        )
        row = run(self._conn, stmt).one_or_none()
        if row is None:
            raise missing_or_refused(
                self._conn, select(orgs.c.org_id).where(orgs.c.org_id == org_id), "org"
            )
        return Org.from_row(row)
