"""Seed the example: two orgs, an Owner, Admin and Member in each, one user in both.

Orgs, users and memberships go through tenantkit's org service on the service
role; notes are written by each org's member on the app role, bound to their
org, exactly as the API would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from examples.notes.models import Note
from tenantkit import Management, OrgMemberInfo, TenantContext, tenant_context


@dataclass(frozen=True)
class SeededOrg:
    org_id: str
    name: str
    owner_id: str
    admin_id: str
    member_id: str


@dataclass(frozen=True)
class Seed:
    acme: SeededOrg
    globex: SeededOrg
    shared_id: str  # Member in Acme, Admin in Globex
    emails: dict[str, str] = field(default_factory=dict)  # user_id -> email


def seed(
    service_engine: Engine, app_engine: Engine, *, notes_per_org: int = 3, tag: str = ""
) -> Seed:
    """Create both orgs and their notes; returns the ids.

    `tag` makes names and emails unique when seeding one database repeatedly.
    """
    suffix = f"-{tag}" if tag else ""
    emails: dict[str, str] = {}
    with service_engine.begin() as conn:
        manage = Management(conn)

        def user(email: str) -> str:
            user_id = manage.users.create(email, email_confirmed=True).user_id
            emails[user_id] = email
            return user_id

        def org(name: str, domain: str) -> SeededOrg:
            org_id = manage.orgs.create(name).org_id
            roles = ("Owner", "Admin", "Member")
            people = {role: user(f"{role.lower()}{suffix}@{domain}") for role in roles}
            for role, user_id in people.items():
                manage.members.add(org_id, user_id, role)
            return SeededOrg(org_id, name, people["Owner"], people["Admin"], people["Member"])

        acme = org(f"Acme{suffix}", "acme.example")
        globex = org(f"Globex{suffix}", "globex.example")
        shared = user(f"pat{suffix}@contractor.example")
        manage.members.add(acme.org_id, shared, "Member")
        manage.members.add(globex.org_id, shared, "Admin")

    for seeded in (acme, globex):
        member = TenantContext(seeded.member_id, seeded.org_id)
        with tenant_context(member), Session(app_engine) as session, session.begin():
            session.add_all(Note(body=f"{seeded.name} note {i + 1}") for i in range(notes_per_org))
    return Seed(acme, globex, shared, emails)


def memberships(service_engine: Engine, user_id: str) -> tuple[OrgMemberInfo, ...]:
    """The user's current memberships as token claims (what an issuer would sign)."""
    with service_engine.begin() as conn:
        found = Management(conn).users.fetch(user_id, include_orgs=True).orgs
    return found or ()
