"""Domain auto-join and domain restriction trust confirmed emails only.

Anyone can sign up with any address, so an unconfirmed email proves nothing
about its domain: it joins no org by domain and passes no domain restriction.
Confirming it (false -> true) is what auto-joins; changing it makes it
unconfirmed again; accepting an invite does not confirm it (the token goes back
to whoever created the invite).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import Forbidden
from tenantkit.testing import TwoOrgs

from ._attack import app_sql, attempt, definition
from .conftest import ServiceFactory, UserFactory, audit_rows

Superuser = psycopg.Connection[tuple[object, ...]]


def memberships_of(superuser: Superuser, user_id: str) -> list[tuple[object, ...]]:
    """(org_id, role) of every membership the user has, read outside RLS."""
    return superuser.execute(
        "SELECT org_id::text, role FROM tenantkit.memberships WHERE user_id = %s ORDER BY 1",
        (user_id,),
    ).fetchall()


def autojoin_orgs(service: ServiceFactory, unique: Callable[[str], str]) -> tuple[str, str, str]:
    """Two auto-join orgs with their own domains: (domain, org of that domain, the other org)."""
    domain, other = f"{unique('aj')}.example", f"{unique('aj-other')}.example"
    with service() as m:
        joins = m.orgs.create(unique("joins"), domain=domain, enable_auto_joining_by_domain=True)
        elsewhere = m.orgs.create(unique("elsewhere"), domain=other,
                                  enable_auto_joining_by_domain=True)
    return domain, joins.org_id, elsewhere.org_id


def test_an_unconfirmed_signup_joins_nothing_until_the_email_is_confirmed(
    service: ServiceFactory, seed: TwoOrgs, unique: Callable[[str], str], superuser: Superuser
) -> None:
    domain, joins, _elsewhere = autojoin_orgs(service, unique)
    with service() as m:
        signup = m.users.create(f"eve@{domain}")  # unconfirmed, autojoin=True
        assert not signup.email_confirmed
        assert m.users.autojoin(signup.user_id) == []
    assert memberships_of(superuser, signup.user_id) == []
    with service() as m:
        assert m.users.update(signup.user_id, first_name="Eve").email_confirmed is False
    assert memberships_of(superuser, signup.user_id) == []  # only confirming joins

    with service() as m:
        m.users.update(signup.user_id, email_confirmed=True)
    assert memberships_of(superuser, signup.user_id) == [(joins, "Member")]
    [(kind, actor, _t, target, meta)] = audit_rows(superuser, joins, "member.added")
    assert (kind, actor, target) == ("service", None, signup.user_id)
    assert meta == {"role": "Member", "via": "domain_autojoin", "trigger": "email_confirmed"}
    with service() as m:  # confirming again (true -> true) joins nothing twice
        m.users.update(signup.user_id, email_confirmed=True)
        assert m.users.autojoin(signup.user_id) == []
    assert len(memberships_of(superuser, signup.user_id)) == 1


def test_users_create_joins_at_creation_only_when_confirmed_and_asked(
    service: ServiceFactory, unique: Callable[[str], str], superuser: Superuser
) -> None:
    domain, joins, _elsewhere = autojoin_orgs(service, unique)
    with service() as m:
        asked = m.users.create(f"a@{domain}", email_confirmed=True)
        not_asked = m.users.create(f"b@{domain}", email_confirmed=True, autojoin=False)
        later = m.users.create(f"c@{domain}", autojoin=False)
    assert memberships_of(superuser, asked.user_id) == [(joins, "Member")]
    assert memberships_of(superuser, not_asked.user_id) == []
    assert memberships_of(superuser, later.user_id) == []
    # autojoin=False is about the moment of creation: confirming later still joins
    with service() as m:
        m.users.update(later.user_id, email_confirmed=True)
    assert memberships_of(superuser, later.user_id) == [(joins, "Member")]


def test_a_changed_email_never_inherits_the_old_confirmation(
    service: ServiceFactory, service_engine: Engine, unique: Callable[[str], str],
    superuser: Superuser,
) -> None:
    domain, joins, _elsewhere = autojoin_orgs(service, unique)
    with service() as m:
        user = m.users.create(f"ada@{unique('old')}.example", email_confirmed=True)
        moved = m.users.update_email(user.user_id, f"ada@{domain}")
    assert not moved.email_confirmed
    assert memberships_of(superuser, user.user_id) == []
    # Not even one statement that sets both: the database clears it.
    with service() as m:
        m.users.update(user.user_id, email_confirmed=True)
        assert m.users.fetch(user.user_id).email_confirmed
    with service_engine.begin() as conn:
        conn.execute(sa.text("UPDATE tenantkit.users SET email = :e, email_confirmed = true "
                             "WHERE user_id = :u"), {"e": f"ada2@{unique('x')}.example",
                                                    "u": user.user_id})
    with service() as m:
        assert not m.users.fetch(user.user_id).email_confirmed
        # a change of case only is no change of address
        m.users.update(user.user_id, email_confirmed=True)
        same = m.users.fetch(user.user_id)
        assert m.users.update_email(user.user_id, same.email.upper()).email_confirmed
        # PropelAuth's require_email_confirmation=False: the new address is confirmed at once
        done = m.users.update_email(user.user_id, f"ada3@{domain}",
                                    require_email_confirmation=False)
    assert done.email_confirmed
    assert (joins, "Member") in memberships_of(superuser, user.user_id)


def test_domain_restriction_needs_a_confirmed_email(
    service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs,
    unique: Callable[[str], str], superuser: Superuser,
) -> None:
    domain = f"{unique('corp')}.example"
    with service() as m:
        corp = m.orgs.create(unique("corp"), domain=domain,
                             members_must_have_matching_domain=True)
        claimed = m.users.create(f"ceo@{domain}", autojoin=False)  # nobody proved it
    with pytest.raises(Forbidden, match="confirmed"), service() as m:
        m.members.add(corp.org_id, claimed.user_id, "Member")
    with pytest.raises(Forbidden, match="confirmed"), service() as m:  # invite-time check too
        m.invites.create(corp.org_id, user_id=claimed.user_id, role="Member")
    with service() as m:  # an invite to the bare address is fine: it proves nothing yet
        token = m.invites.create(corp.org_id, email=claimed.email, role="Member").token
    # Accepting it does not prove the address either: refused, and still unconfirmed.
    with pytest.raises(Forbidden, match="confirmed"), as_user(claimed.user_id,
                                                              fresh_orgs.a.org_id) as m:
        m.invites.accept(token)
    with service() as m:
        assert not m.users.fetch(claimed.user_id).email_confirmed
    assert memberships_of(superuser, claimed.user_id) == []
    with service() as m:
        m.users.update(claimed.user_id, email_confirmed=True)
    with as_user(claimed.user_id, fresh_orgs.a.org_id) as m:
        assert m.invites.accept(token).org_id == corp.org_id


def test_accepting_a_self_made_invite_grants_no_domain(
    service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs,
    unique: Callable[[str], str], superuser: Superuser,
) -> None:
    """The issue's attack: sign up as someone@victim-domain, invite yourself, accept."""
    a = fresh_orgs.a  # the attacker is A's Admin
    domain, victim_org, _elsewhere = autojoin_orgs(service, unique)
    with service() as m:
        fake = m.users.create(f"cfo@{domain}")  # the attacker's unconfirmed account
    with as_user(a.admin_id, a.org_id) as m:
        token = m.invites.create(a.org_id, email=fake.email, role="Member").token
    with as_user(fake.user_id, a.org_id) as m:
        assert m.invites.accept(token).org_id == a.org_id  # joining A was A's Admin's call
    assert memberships_of(superuser, fake.user_id) == [(a.org_id, "Member")]
    assert victim_org not in {org for org, _role in memberships_of(superuser, fake.user_id)}
    with service() as m:
        assert not m.users.fetch(fake.user_id).email_confirmed


def test_end_users_cannot_confirm_emails_or_trigger_autojoin(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs,
    unique: Callable[[str], str], service: ServiceFactory, superuser: Superuser,
) -> None:
    a = fresh_orgs.a
    autojoin_orgs(service, unique)
    me = a.member_id
    with app_sql(app_engine, me, a.org_id) as conn:
        confirm = attempt(conn, "UPDATE tenantkit.users SET email_confirmed = true "
                                "WHERE user_id = :u", {"u": me})
        join = attempt(conn, "SELECT tenantkit.autojoin_by_domain(:u, 'user', :u, '{}')",
                       {"u": me})
    assert confirm.sqlstate == join.sqlstate == "42501"
    with pytest.raises(Forbidden), as_user(me, a.org_id) as m:
        m.users.update(me, email_confirmed=True)
    with pytest.raises(Forbidden), as_user(me, a.org_id) as m:
        m.users.autojoin(me)
    with pytest.raises(Forbidden), as_user(me, a.org_id) as m:
        m.users.update_email(me, f"me@{unique('x')}.example", require_email_confirmation=False)
    assert memberships_of(superuser, me) == [(a.org_id, "Member")]


# --- the protections switched off, to show they are what stops the attacks ---------


def test_without_the_rule_an_unconfirmed_signup_would_autojoin(
    service: ServiceFactory, unique: Callable[[str], str], superuser: Superuser
) -> None:
    domain, joins, _elsewhere = autojoin_orgs(service, unique)
    with service() as m:
        signup = m.users.create(f"eve@{domain}")
    call = "SELECT count(*) FROM tenantkit.autojoin_by_domain(%s, 'service', NULL, '{}')"
    with superuser.transaction(force_rollback=True):
        assert superuser.execute(call, (signup.user_id,)).fetchone() == (0,)
        superuser.execute(definition("0002_orgs.sql",
                                     "CREATE FUNCTION tenantkit.autojoin_by_domain("))
        assert superuser.execute(call, (signup.user_id,)).fetchone() == (1,)
        assert memberships_of(superuser, signup.user_id) == [(joins, "Member")]
    assert memberships_of(superuser, signup.user_id) == []


def test_without_the_rule_restriction_would_admit_an_unconfirmed_email(
    service: ServiceFactory, unique: Callable[[str], str], superuser: Superuser
) -> None:
    domain = f"{unique('corp')}.example"
    with service() as m:
        corp = m.orgs.create(unique("corp"), domain=domain,
                             members_must_have_matching_domain=True)
        claimed = m.users.create(f"ceo@{domain}", autojoin=False)
    add = ("INSERT INTO tenantkit.memberships (org_id, user_id, role) "
           "VALUES (%s, %s, 'Member')")
    with superuser.transaction(force_rollback=True):
        with pytest.raises(psycopg.Error) as refused, superuser.transaction():
            superuser.execute(add, (corp.org_id, claimed.user_id))
        assert refused.value.sqlstate == "TK002"
        superuser.execute(definition("0001_triggers.sql",
                                     "CREATE FUNCTION tenantkit._check_membership()"))
        superuser.execute(add, (corp.org_id, claimed.user_id))
        assert memberships_of(superuser, claimed.user_id) == [(corp.org_id, "Member")]
    assert memberships_of(superuser, claimed.user_id) == []
