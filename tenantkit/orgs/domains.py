"""Email domains of an org: the primary `domain`, `extra_domains`, and their rules.

- autojoin (`domain_autojoin`): new users whose email matches join the org
  (`Users.create(..., autojoin=True)` or `Users.autojoin`) with its last role;
- restrict (`domain_restrict`): only matching emails may become members or be
  invited (enforced by the membership and invite triggers).

Both use the org's domains only: set by the backend (which vouches for them), or
verified by DNS. `request_verification` records a *pending* domain and its
token; once `_tenantkit-verification.<domain>` has a TXT record with the token,
`confirm` (backend work: the app role never marks a domain verified) moves it
into the org's domains.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert

from tenantkit.errors import Forbidden, InvalidField, NotFound
from tenantkit.orgs._actor import Actor
from tenantkit.orgs._audit import audited
from tenantkit.orgs._db import Conn, missing_or_refused, run, uuid_param
from tenantkit.orgs._orgs import Orgs
from tenantkit.orgs._validate import check_domain, check_id
from tenantkit.orgs.models import DomainVerification, Org
from tenantkit.schema import org_domain_verifications as dv
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
        """Remove `domain`; the primary domain cannot go while the org restricts to it.

        Its verification record goes too. On an end user's session this is
        `tenantkit.remove_current_org_domain()` (`tenantkit::can_update_org`), a
        door that only takes domains away: adding one stays backend (or DNS) work.
        """
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        if self._actor.is_end_user:
            run(self._conn, select(func.tenantkit.remove_current_org_domain(
                uuid_param(org_id), literal(domain))))
            return Orgs(self._conn, self._actor).fetch(org_id)
        current = Orgs(self._conn, self._actor).fetch(org_id)
        if domain == current.domain:
            if current.domain_restrict:
                raise InvalidField("domain", "turn off domain_restrict before removing it")
            values: dict[str, object] = {"domain": None}
        elif domain in current.extra_domains:
            values = {"extra_domains": func.array_remove(orgs.c.extra_domains, literal(domain))}
        else:
            raise InvalidField("domain", "is not one of the org's domains")
        removed = self._update(org_id, values, "org.domain_removed", domain)
        run(self._conn, delete(dv).where(dv.c.org_id == org_id, dv.c.domain == domain))
        return removed

    def set_rules(self, org_id: str, *, autojoin: bool | None = None,
                  restrict: bool | None = None) -> Org:
        """Turn domain autojoin and/or domain restriction on or off."""
        changes = {k: v for k, v in (("domain_autojoin", autojoin),
                                     ("domain_restrict", restrict)) if v is not None}
        return Orgs(self._conn, self._actor).update(org_id, **changes)

    # --- verification -------------------------------------------------------------

    def request_verification(self, org_id: str, domain: str) -> DomainVerification:
        """A pending domain and the token its TXT record must show (asking again: the same)."""
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        run(self._conn, insert(dv).values(org_id=org_id, domain=domain)
            .on_conflict_do_nothing(index_elements=[dv.c.org_id, dv.c.domain]))
        return self.verification(org_id, domain)

    def verification(self, org_id: str, domain: str) -> DomainVerification:
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        row = run(self._conn, select(dv).where(dv.c.org_id == org_id,
                                               dv.c.domain == domain)).one_or_none()
        if row is None:
            raise NotFound("domain verification not found")
        return DomainVerification.from_row(row)

    def verifications(self, org_id: str) -> list[DomainVerification]:
        """The org's requested domains, pending and verified, by name."""
        org_id = check_id("org_id", org_id)
        rows = run(self._conn, select(dv).where(dv.c.org_id == org_id).order_by(dv.c.domain))
        return [DomainVerification.from_row(r) for r in rows]

    def withdraw(self, org_id: str, domain: str) -> None:
        """Drop a pending domain request."""
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        key = [dv.c.org_id == org_id, dv.c.domain == domain, dv.c.state == "pending"]
        if run(self._conn, delete(dv).where(*key).returning(dv.c.domain)).first() is None:
            raise missing_or_refused(self._conn, select(dv.c.domain).where(*key),
                                     "pending domain")

    def confirm(self, org_id: str, domain: str, txt_values: Sequence[str]) -> DomainVerification:
        """Verified when `txt_values` (the DNS answer) holds the token; else still pending.

        Backend work: the lookup happens outside the database, so the database
        cannot check it, and an end user who could claim it could auto-join any
        domain's new users into their org.
        """
        if self._actor.is_end_user:
            raise Forbidden("marking a domain verified is backend work")
        org_id, domain = check_id("org_id", org_id), check_domain("domain", domain)
        row = run(self._conn, select(dv).where(dv.c.org_id == org_id, dv.c.domain == domain)
                  .with_for_update()).one_or_none()
        if row is None:
            raise NotFound("domain verification not found")
        found = DomainVerification.from_row(row)
        if found.state == "verified" or found.token not in set(txt_values):
            return found
        run(self._conn, update(dv).where(dv.c.org_id == org_id, dv.c.domain == domain)
            .values(state="verified", verified_at=func.now()))
        self.add(org_id, domain)
        return self.verification(org_id, domain)

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
