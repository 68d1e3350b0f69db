"""Seed data for tests: two orgs, each with an Owner, an Admin and a Member,
plus one user who belongs to both (Member in A, Admin in B).

Negative tests need other tenants' rows to exist: an empty table proves nothing.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, insert

from tenantkit.context import TenantContext
from tenantkit.schema import memberships, orgs, users

__all__ = ["SeededOrg", "TwoOrgs", "seed_two_orgs"]


@dataclass(frozen=True)
class SeededOrg:
    """One seeded org and the ids of its members by role."""

    org_id: str
    name: str
    owner_id: str
    admin_id: str
    member_id: str

    def context(self, user_id: str) -> TenantContext:
        """A context for `user_id` acting in this org."""
        return TenantContext(user_id, self.org_id)


@dataclass(frozen=True)
class TwoOrgs:
    """Org A and org B, and the user who is a member of both."""

    a: SeededOrg
    b: SeededOrg
    shared_user_id: str  # Member in A, Admin in B
    emails: dict[str, str]  # user_id -> email


def seed_two_orgs(conn: Connection, *, label: str | None = None) -> TwoOrgs:
    """Insert two orgs and their members on `conn` (service or owner role), uncommitted."""
    # 48 bits: hundreds of seeds share one database; 24 bits collided (users_email_per_scope).
    tag = label or secrets.token_hex(6)
    emails: dict[str, str] = {}

    def new_user(name: str) -> str:
        user_id = str(uuid.uuid4())
        emails[user_id] = f"{name}.{tag}@example.com"
        conn.execute(
            insert(users).values(
                user_id=user_id, email=emails[user_id], first_name=name.split("-")[0].title()
            )
        )
        return user_id

    def new_org(letter: str) -> SeededOrg:
        org_id = str(uuid.uuid4())
        name = f"Org {letter} {tag}"
        conn.execute(insert(orgs).values(org_id=org_id, name=name, url_safe_org_name=""))
        org = SeededOrg(
            org_id=org_id,
            name=name,
            owner_id=new_user(f"owner-{letter}"),
            admin_id=new_user(f"admin-{letter}"),
            member_id=new_user(f"member-{letter}"),
        )
        for user_id, role in (
            (org.owner_id, "Owner"),
            (org.admin_id, "Admin"),
            (org.member_id, "Member"),
        ):
            conn.execute(insert(memberships).values(org_id=org_id, user_id=user_id, role=role))
        return org

    a, b = new_org("a"), new_org("b")
    shared = new_user("shared")
    conn.execute(insert(memberships).values(org_id=a.org_id, user_id=shared, role="Member"))
    conn.execute(insert(memberships).values(org_id=b.org_id, user_id=shared, role="Admin"))
    return TwoOrgs(a=a, b=b, shared_user_id=shared, emails=emails)
