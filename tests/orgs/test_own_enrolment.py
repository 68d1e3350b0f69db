"""No end user, not even an Owner, enrols anyone directly.

Memberships come from invite acceptance by the invitee, org creation, domain
auto-join and the service role. An end user's attempt is refused the same way
for another org's user, a user in no org and an id nobody has, so it tells
nothing about which users exist; so is inviting by user id.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import Forbidden, NotFound
from tenantkit.testing import TestDatabase, TwoOrgs

from ._attack import Outcome, app_sql, app_sql_without, attempt, definition
from .conftest import ServiceFactory, UserFactory

Superuser = psycopg.Connection[tuple[object, ...]]

ENROL = ("INSERT INTO tenantkit.memberships (org_id, user_id, role) "
         "VALUES (:org, :user, 'Member')")
INVITE_BY_ID = (
    "INSERT INTO tenantkit.invites (org_id, email, invitee_user_id, role, inviter_user_id, "
    "token_hash, expires_at) VALUES (:org, 'x@example.com', :user, 'Member', :me, :hash, "
    "now() + interval '1 day')"
)


def targets(fresh_orgs: TwoOrgs, service: ServiceFactory) -> dict[str, str]:
    """Users an attacker in org A might try: another org's, one in no org, an unknown id."""
    with service() as m:
        orgless = m.users.create(f"orgless.{secrets.token_hex(3)}@example.com").user_id
    return {"foreign": fresh_orgs.b.member_id, "orgless": orgless, "unknown": str(uuid.uuid4())}


def member_count(superuser: Superuser, org_id: str, user_ids: list[str]) -> int:
    row = superuser.execute(
        "SELECT count(*) FROM tenantkit.memberships WHERE org_id = %s AND user_id = ANY (%s)",
        (org_id, user_ids),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_no_end_user_enrols_anyone_and_every_id_looks_the_same(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, service: ServiceFactory,
    superuser: Superuser,
) -> None:
    a = fresh_orgs.a
    people = targets(fresh_orgs, service)
    for actor in (a.owner_id, a.admin_id, a.member_id):
        with app_sql(app_engine, actor, a.org_id) as conn:
            raw = {k: attempt(conn, ENROL, {"org": a.org_id, "user": v})
                   for k, v in people.items()}
        assert {o.refusal for o in raw.values()} == {
            ("42501", "permission denied for table memberships")}
        errors: dict[str, str] = {}
        for name, user_id in people.items():
            with pytest.raises(Forbidden) as caught, as_user(actor, a.org_id) as m:
                m.members.add(a.org_id, user_id, "Member")
            errors[name] = caught.value.message
        assert len(set(errors.values())) == 1, errors
        assert "invite" in errors["foreign"]
    assert member_count(superuser, a.org_id, list(people.values())) == 0


def test_inviting_by_user_id_is_backend_work(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, service: ServiceFactory,
) -> None:
    a = fresh_orgs.a
    people = targets(fresh_orgs, service)
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        raw = {k: attempt(conn, INVITE_BY_ID, {"org": a.org_id, "user": v, "me": a.admin_id,
                                               "hash": secrets.token_bytes(32)})
               for k, v in people.items()}
    assert {o.refusal for o in raw.values()} == {
        ("42501", "permission denied for table invites")}
    errors = set()
    for user_id in people.values():
        with pytest.raises(Forbidden) as caught, as_user(a.admin_id, a.org_id) as m:
            m.invites.create(a.org_id, user_id=user_id, role="Member")
        errors.add(caught.value.message)
    assert len(errors) == 1
    with as_user(a.admin_id, a.org_id) as m:  # by email it still works
        assert m.invites.create(a.org_id, email="by-email@example.com", role="Member").token


def test_other_orgs_profiles_stay_unreadable(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, service: ServiceFactory,
) -> None:
    """The issue's "enrol and read their profile": neither half works, for any id."""
    a = fresh_orgs.a
    people = targets(fresh_orgs, service)
    for user_id in people.values():
        with pytest.raises(NotFound), as_user(a.owner_id, a.org_id) as m:
            m.users.fetch(user_id)
    with app_sql(app_engine, a.owner_id, a.org_id) as conn:
        found = attempt(conn, "SELECT user_id FROM tenantkit.current_org_users(:ids)",
                        {"ids": list(people.values())})
        table = attempt(conn, "SELECT email FROM tenantkit.users WHERE user_id = :u",
                        {"u": people["foreign"]})
    assert found.ok and found.rows == []
    assert table.refusal == ("42501", "permission denied for table users")


def test_the_four_doors_still_enrol(
    service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs,
    unique: Callable[[str], str], superuser: Superuser,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    domain = f"{unique('door')}.example"
    with service() as m:
        token = m.invites.create(a.org_id, email=fresh_orgs.emails[b.owner_id],
                                 role="Member").token
        auto = m.orgs.create(unique("auto"), domain=domain, enable_auto_joining_by_domain=True)
        joiner = m.users.create(f"j@{domain}", email_confirmed=True)  # 3. domain auto-join
        service_made = m.users.create(f"s@{unique('s')}.example").user_id
        m.members.add(a.org_id, service_made, "Member")  # 4. the service role
    with as_user(b.owner_id, b.org_id) as m:  # 1. acceptance by the invitee
        assert m.invites.accept(token).org_id == a.org_id
    with as_user(b.owner_id, b.org_id) as m:  # 2. creating an org
        created = m.orgs.create(unique("mine"))
    assert member_count(superuser, a.org_id, [b.owner_id, service_made]) == 2
    assert member_count(superuser, created.org_id, [b.owner_id]) == 1
    assert member_count(superuser, auto.org_id, [joiner.user_id]) == 1


# --- the protection switched off, to show it is what stops the attack ---------------


def test_with_the_old_privilege_an_owner_enrols_anyone_and_probes_ids(
    tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs, service: ServiceFactory,
) -> None:
    a = fresh_orgs.a
    people = targets(fresh_orgs, service)
    old = [
        "GRANT INSERT (org_id, user_id, role, additional_roles, status) "
        "ON tenantkit.memberships TO @app_role@",
        definition("0001_policies.sql", "CREATE POLICY member_insert ON tenantkit.memberships"),
    ]

    def enrol_each(*protection_off: str) -> dict[str, Outcome]:
        outcomes = {}
        for name, user_id in people.items():
            with app_sql_without(tenantkit_db, a.owner_id, a.org_id, *protection_off) as conn:
                outcomes[name] = attempt(conn, ENROL, {"org": a.org_id, "user": user_id})
        return outcomes

    now = enrol_each()
    assert {o.sqlstate for o in now.values()} == {"42501"}
    before = enrol_each(*old)
    assert before["foreign"].ok and before["orgless"].ok  # enrolled another org's user
    assert before["unknown"].sqlstate == "23503"  # and told which ids exist


def test_with_the_old_invite_columns_an_admin_probes_user_ids(
    tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs, service: ServiceFactory,
) -> None:
    a = fresh_orgs.a
    people = targets(fresh_orgs, service)
    old = "GRANT INSERT (invitee_user_id) ON tenantkit.invites TO @app_role@"

    def invite_each(*protection_off: str) -> dict[str, Outcome]:
        outcomes = {}
        for name, user_id in people.items():
            with app_sql_without(tenantkit_db, a.admin_id, a.org_id, *protection_off) as conn:
                outcomes[name] = attempt(conn, INVITE_BY_ID, {
                    "org": a.org_id, "user": user_id, "me": a.admin_id,
                    "hash": secrets.token_bytes(32)})
        return outcomes

    assert {o.sqlstate for o in invite_each().values()} == {"42501"}
    before = invite_each(old)
    assert before["foreign"].ok and before["unknown"].sqlstate == "23503"
