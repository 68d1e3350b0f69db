"""End users and invites: revoke (pending -> revoked) and nothing else.

They cannot un-revoke, re-open, accept by UPDATE, change the role, extend the
expiry past the project's `max_invite_expiry` (a setting the database
enforces for every role), or delete invites.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import Forbidden, InvalidField, NotFound
from tenantkit.testing import TestDatabase, TwoOrgs

from ._attack import app_sql, app_sql_without, attempt, definition
from .conftest import ServiceFactory, UserFactory

Superuser = psycopg.Connection[tuple[object, ...]]

RAW_INVITE = (
    "INSERT INTO tenantkit.invites (org_id, email, role, inviter_user_id, token_hash, "
    "expires_at) VALUES (:org, :email, :role, :me, :hash, now() + CAST(:life AS interval))"
)


@dataclass(frozen=True)
class Invited:
    """Emails of A's invites in each state, and a pending invite of B's."""

    pending: str
    revoked: str
    accepted: str
    expired: str
    other_org: str


@pytest.fixture
def invited(
    fresh_orgs: TwoOrgs, service: ServiceFactory, superuser: Superuser,
    unique: Callable[[str], str],
) -> Invited:
    a, b = fresh_orgs.a, fresh_orgs.b
    e = Invited(*(f"{unique(s)}@example.com" for s in
                  ("pending", "revoked", "accepted", "expired", "other")))
    with service() as m:
        for email in (e.pending, e.revoked, e.accepted, e.expired):
            m.invites.create(a.org_id, email=email, role="Member")
        m.invites.create(b.org_id, email=e.other_org, role="Member")
        m.invites.revoke(a.org_id, e.revoked)
    superuser.execute("UPDATE tenantkit.invites SET state = 'accepted' WHERE email = %s",
                      (e.accepted,))
    superuser.execute("UPDATE tenantkit.invites SET state = 'expired' WHERE email = %s",
                      (e.expired,))
    return e


def states(superuser: Superuser, org_id: str) -> dict[str, tuple[object, ...]]:
    rows = superuser.execute(
        "SELECT email, state, role, expires_at FROM tenantkit.invites WHERE org_id = %s",
        (org_id,)).fetchall()
    return {str(r[0]): r[1:] for r in rows}


def test_an_end_user_may_only_revoke(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, invited: Invited,
    superuser: Superuser,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    before_a, before_b = states(superuser, a.org_id), states(superuser, b.org_id)
    update = "UPDATE tenantkit.invites SET {} WHERE email = :e"
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        # Rows that are not pending are out of reach: the UPDATE matches nothing.
        for email in (invited.revoked, invited.accepted, invited.expired):
            back = attempt(conn, update.format("state = 'pending'"), {"e": email})
            assert (back.ok, back.rowcount) == (True, 0), email
        # A pending row may only become revoked.
        for state in ("accepted", "expired", "pending"):
            sideways = attempt(conn, update.format(f"state = '{state}'"), {"e": invited.pending})
            assert sideways.sqlstate == "42501", state
        for change in ("role = 'Owner'", "expires_at = now() + interval '10 years'",
                       "additional_roles = '{Owner}'", "email = 'me@example.com'",
                       "invitee_user_id = NULL", "accepted_by = NULL"):
            assert attempt(conn, update.format(change), {"e": invited.pending}).refusal == (
                "42501", "permission denied for table invites"), change
        assert attempt(conn, "DELETE FROM tenantkit.invites").refusal == (
            "42501", "permission denied for table invites")
        other = attempt(conn, update.format("state = 'revoked'"), {"e": invited.other_org})
        assert (other.ok, other.rowcount) == (True, 0)
        # the one thing allowed
        revoked = attempt(conn, update.format("state = 'revoked'"), {"e": invited.pending})
        assert revoked.rowcount == 1
    assert states(superuser, a.org_id) == before_a  # rolled back
    with as_user(a.admin_id, a.org_id) as m:
        m.invites.revoke(a.org_id, invited.pending)
    with pytest.raises(NotFound), as_user(a.admin_id, a.org_id) as m:
        m.invites.revoke(a.org_id, invited.pending)  # already revoked
    with pytest.raises(NotFound), as_user(a.admin_id, a.org_id) as m:
        m.invites.revoke(b.org_id, invited.other_org)
    assert states(superuser, a.org_id)[invited.pending][0] == "revoked"
    assert states(superuser, b.org_id) == before_b


def test_no_invite_above_ones_own_role(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs,
) -> None:
    a = fresh_orgs.a
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        owner = attempt(conn, RAW_INVITE, {"org": a.org_id, "email": "boss@example.com",
                                           "role": "Owner", "me": a.admin_id,
                                           "hash": secrets.token_bytes(32), "life": "1 day"})
    assert owner.sqlstate == "42501"
    with pytest.raises(Forbidden), as_user(a.admin_id, a.org_id) as m:
        m.invites.create(a.org_id, email="boss@example.com", role="Owner")
    with as_user(a.owner_id, a.org_id) as m:
        assert m.invites.create(a.org_id, email="boss@example.com", role="Owner").token


@pytest.fixture
def max_invite_expiry(service: ServiceFactory) -> Iterator[Callable[[timedelta], None]]:
    def set_(value: timedelta) -> None:
        with service() as m:
            m.settings.update(max_invite_expiry=value)

    yield set_
    set_(timedelta(days=90))


def test_the_expiry_limit_is_a_project_setting_the_database_enforces(
    app_engine: Engine, service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs,
    max_invite_expiry: Callable[[timedelta], None], unique: Callable[[str], str],
    service_engine: Engine,
) -> None:
    a = fresh_orgs.a
    with service() as m:
        assert m.settings.get().max_invite_expiry == timedelta(days=90)
    for days, ok in ((90, True), (91, False)):
        for who in ("service", "end user"):
            ctx = service() if who == "service" else as_user(a.admin_id, a.org_id)
            if ok:
                with ctx as m:
                    m.invites.create(a.org_id, email=f"{unique('ok')}@example.com",
                                     role="Member", expires_in=timedelta(days=days))
            else:
                with pytest.raises(InvalidField) as caught, ctx as m:
                    m.invites.create(a.org_id, email=f"{unique('no')}@example.com",
                                     role="Member", expires_in=timedelta(days=days))
                assert "expires_in" in caught.value.fields
                assert "90 days" in caught.value.fields["expires_in"]
    max_invite_expiry(timedelta(days=10))
    with pytest.raises(InvalidField), as_user(a.admin_id, a.org_id) as m:
        m.invites.create(a.org_id, email=f"{unique('no')}@example.com", role="Member",
                         expires_in=timedelta(days=11))
    with as_user(a.admin_id, a.org_id) as m:
        m.invites.create(a.org_id, email=f"{unique('ok')}@example.com", role="Member",
                         expires_in=timedelta(days=10))
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        raw = attempt(conn, RAW_INVITE, {"org": a.org_id, "email": "late@example.com",
                                         "role": "Member", "me": a.admin_id,
                                         "hash": secrets.token_bytes(32), "life": "11 days"})
    assert raw.sqlstate == "TK010"
    # The service cannot stretch one afterwards either.
    with service_engine.connect() as conn, conn.begin():
        service_raw = attempt(conn, "UPDATE tenantkit.invites SET expires_at = "
                                    "created_at + interval '11 days' WHERE org_id = :o",
                              {"o": a.org_id})
    assert service_raw.sqlstate == "TK010"
    with pytest.raises(InvalidField), service() as m:
        m.settings.update(max_invite_expiry=timedelta(seconds=5))


# --- the protection switched off, to show it is what stops the attack ---------------


def test_with_the_old_policy_an_admin_reopens_and_deletes_invites(
    tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs, invited: Invited,
) -> None:
    a = fresh_orgs.a
    old_update = definition("0001_policies.sql",
                            "CREATE POLICY member_update ON tenantkit.invites")
    old_delete = definition("0001_policies.sql",
                            "CREATE POLICY member_delete ON tenantkit.invites")
    reopen = "UPDATE tenantkit.invites SET state = 'pending' WHERE email = :e"
    with app_sql_without(tenantkit_db, a.admin_id, a.org_id) as conn:
        assert attempt(conn, reopen, {"e": invited.revoked}).rowcount == 0
    with app_sql_without(tenantkit_db, a.admin_id, a.org_id, old_update) as conn:
        assert attempt(conn, reopen, {"e": invited.revoked}).rowcount == 1
    with app_sql_without(tenantkit_db, a.admin_id, a.org_id, old_delete,
                         "GRANT DELETE ON tenantkit.invites TO @app_role@") as conn:
        assert attempt(conn, "DELETE FROM tenantkit.invites").rowcount >= 4
