"""Invites through the service: create, list, revoke, accept (once, and not when expired)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import Conflict, InvalidField, NotFound, TenantkitError
from tenantkit.orgs import Management, PageRequest
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, UserFactory, audit_rows


def test_invite_list_accept(
    service: ServiceFactory, make_seed: Callable[[], TwoOrgs], unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    a = make_seed().a
    email = f"{unique('new')}@Example.com"
    with service() as m:
        created = m.invites.create(a.org_id, email=email, role="Admin")
    assert created.invite.email == email.lower() and created.invite.org_name.startswith("Org a")
    assert created.token.startswith("tk_inv_") and created.token not in repr(created)
    with service() as m:
        pending = m.invites.list_pending(org_id=a.org_id)
        assert [i.email for i in pending.items] == [email.lower()]
        accepted = m.invites.accept(created.token)  # creates the user from the email
        user = m.users.fetch(accepted.user_id)
        assert user.email == email.lower() and user.email_confirmed
        assert m.members.fetch(a.org_id, user.user_id).role == "Admin"
        assert m.invites.list_pending(org_id=a.org_id).total == 0
    with pytest.raises(Conflict), service() as m:
        m.invites.accept(created.token)
    assert len(audit_rows(superuser, a.org_id, "invite.created")) == 1
    assert len(audit_rows(superuser, a.org_id, "invite.accepted")) == 1


def test_invite_by_user_id_and_end_user_accepts(
    service: ServiceFactory, as_user: UserFactory, make_seed: Callable[[], TwoOrgs],
) -> None:
    orgs = make_seed()
    a, b = orgs.a, orgs.b
    with service() as m:
        created = m.invites.create(a.org_id, user_id=b.member_id, role="Member")
    assert created.invite.invitee_user_id == b.member_id
    # Someone else holding the token cannot take it: the invite names its user.
    with pytest.raises(TenantkitError) as caught, as_user(b.owner_id, b.org_id) as m:
        m.invites.accept(created.token)
    assert caught.value.status_code == 403
    with as_user(b.member_id, a.org_id) as m:  # not yet a member of A: the function decides
        accepted = m.invites.accept(created.token)
    assert (accepted.org_id, accepted.user_id) == (a.org_id, b.member_id)


def test_invite_errors(
    service: ServiceFactory, make_seed: Callable[[], TwoOrgs], unique: Callable[[str], str]
) -> None:
    a = make_seed().a
    email = f"{unique('dup')}@example.com"
    with service() as m:
        m.invites.create(a.org_id, email=email, role="Member")
    with pytest.raises(Conflict), service() as m:
        m.invites.create(a.org_id, email=email.upper(), role="Member")
    with pytest.raises(Conflict), service() as m:  # already a member
        m.invites.create(a.org_id, user_id=a.admin_id, role="Member")
    with pytest.raises(InvalidField) as caught, service() as m:
        m.invites.create(a.org_id, email="nope", role="Member")
    assert "email" in caught.value.fields
    with pytest.raises(InvalidField) as caught, service() as m:
        m.invites.create(a.org_id, email=f"{unique('r')}@example.com", role="Emperor")
    assert "role" in caught.value.fields
    with pytest.raises(NotFound), service() as m:
        m.invites.create("00000000-0000-4000-8000-000000000000",
                         email=f"{unique('r')}@example.com", role="Member")
    with pytest.raises(NotFound), service() as m:
        m.invites.accept("tk_inv_not-a-real-token")
    with pytest.raises(NotFound), service() as m:
        m.invites.revoke(a.org_id, "never@example.com")


def test_revoked_and_expired_invites_are_refused(
    service: ServiceFactory, make_seed: Callable[[], TwoOrgs], unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    a = make_seed().a
    revoked_email, expired_email = (f"{unique(x)}@example.com" for x in ("rev", "exp"))
    with service() as m:
        revoked = m.invites.create(a.org_id, email=revoked_email, role="Member")
        expired = m.invites.create(a.org_id, email=expired_email, role="Member",
                                   expires_in=timedelta(minutes=1))
    with service() as m:
        m.invites.revoke(a.org_id, revoked_email)
    superuser.execute(
        "UPDATE tenantkit.invites SET created_at = now() - interval '2 days', "
        "expires_at = now() - interval '1 day' WHERE invite_id = %s",
        (expired.invite.invite_id,),
    )
    for token, why in ((revoked.token, "revoked"), (expired.token, "expired")):
        with pytest.raises(Conflict, match=why), service() as m:
            m.invites.accept(token)
    with service() as m:
        emails = {i.email for i in m.invites.list_pending(org_id=a.org_id).items}
        assert not emails & {revoked_email, expired_email}
        # an expired invite does not block a fresh one for the same email
        m.invites.create(a.org_id, email=expired_email, role="Member")


def test_list_pending_across_orgs_pages(
    service: ServiceFactory, make_seed: Callable[[], TwoOrgs], unique: Callable[[str], str]
) -> None:
    orgs = make_seed()
    tag = unique("pg")
    with service() as m:
        for org in (orgs.a, orgs.b):
            for i in range(3):
                m.invites.create(org.org_id, email=f"{tag}-{i}@example.com", role="Member")
    with service() as m:
        everything = m.invites.list_pending(page=PageRequest(100, 0))
        mine = [i for i in everything.items if i.email.startswith(tag)]
        assert len(mine) == 6
        paged = [i.invite_id for n in range(3)
                 for i in m.invites.list_pending(org_id=orgs.b.org_id,
                                                 page=PageRequest(2, n)).items]
        assert len(paged) == len(set(paged)) == 3


def test_two_concurrent_accepts_make_one_membership(
    service_engine: Engine, service: ServiceFactory, make_seed: Callable[[], TwoOrgs],
    unique: Callable[[str], str], superuser: psycopg.Connection,
) -> None:
    a = make_seed().a
    with service() as m:
        token = m.invites.create(a.org_id, email=f"{unique('race')}@example.com",
                                 role="Member").token
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def accept() -> None:
        with service_engine.connect() as conn:
            barrier.wait()
            try:
                with conn.begin():
                    outcomes.append(Management(conn).invites.accept(token))
            except TenantkitError as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if not isinstance(o, Exception)]
    losses = [o for o in outcomes if isinstance(o, Exception)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], Conflict) or losses[0].status_code == 409  # type: ignore[attr-defined]
    row = superuser.execute(
        "SELECT count(*) FROM tenantkit.memberships m JOIN tenantkit.users u USING (user_id) "
        "WHERE m.org_id = %s AND u.email LIKE 'race-%%'", (a.org_id,)
    ).fetchone()
    assert row == (1,)
