"""Users through the service: create, fetch, batch, search, update, disable, delete."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from tenantkit import Conflict, FeatureDisabled, InvalidField, NotFound
from tenantkit.orgs import PageRequest
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, audit_rows


def test_create_fetch_and_batch(
    service: ServiceFactory, seed: TwoOrgs, unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    name = unique("ada")
    with service() as m:
        user = m.users.create(f"{name}@Example.com", username=name, first_name="Ada",
                              properties={"plan": "pro"}, legacy_user_id=name)
    assert user.email == f"{name}@example.com" and user.enabled
    with service() as m:
        assert m.users.fetch(user.user_id) == user
        assert m.users.fetch_by_email(user.email.upper()) == user
        assert m.users.fetch_by_username(name.upper()) == user
        shared = m.users.fetch(seed.shared_user_id, include_orgs=True)
        assert shared.orgs is not None
        roles = {o.org_id: o for o in shared.orgs}
        assert roles[seed.b.org_id].user_role == "Admin"
        assert roles[seed.b.org_id].inherited_user_roles_plus_current_role == ("Admin", "Member")
        assert "tenantkit::can_invite" in roles[seed.b.org_id].user_permissions
        assert roles[seed.a.org_id].user_permissions == ()
        by_ids = m.users.fetch_many(user_ids=[user.user_id, seed.a.owner_id,
                                              "00000000-0000-4000-8000-000000000000"])
        assert set(by_ids) == {user.user_id, seed.a.owner_id}
        by_emails = m.users.fetch_many(emails=[user.email, "nobody@example.com"])
        assert list(by_emails) == [user.email]
        assert list(m.users.fetch_many(usernames=[name])) == [name.lower()]
    assert len(audit_rows(superuser, None, "user.created")) >= 1


def test_user_errors(service: ServiceFactory, seed: TwoOrgs, unique: Callable[[str], str]) -> None:
    with pytest.raises(Conflict), service() as m:
        m.users.create(seed.emails[seed.a.owner_id].upper())
    with pytest.raises(InvalidField) as caught, service() as m:
        m.users.create("not-an-email")
    assert "email" in caught.value.fields
    with pytest.raises(FeatureDisabled), service() as m:
        m.users.create(f"{unique('pw')}@example.com", password="hunter2")
    with pytest.raises(NotFound), service() as m:
        m.users.fetch("00000000-0000-4000-8000-000000000000")
    with pytest.raises(NotFound), service() as m:
        m.users.fetch_by_email("nobody@example.com")
    with pytest.raises(InvalidField), service() as m:
        m.users.fetch_many(user_ids=["x"])
    with pytest.raises(InvalidField), service() as m:
        m.users.fetch_many(user_ids=[], emails=[])
    with pytest.raises(InvalidField) as caught, service() as m:
        m.users.update(seed.a.owner_id, shoe_size=9)
    assert "shoe_size" in caught.value.fields


def test_query_orders_and_matches(service: ServiceFactory, unique: Callable[[str], str]) -> None:
    tag = unique("uq")
    made = []
    for name in ("carol", "alice", "bob"):
        with service() as m:
            made.append(m.users.create(f"{tag}-{name}@example.com", username=f"{name}-{tag}",
                                       autojoin=False))
    with service() as m:
        found = m.users.query(email_or_username=tag.upper(), order_by="EMAIL")
        assert [u.email.split("-")[-1] for u in found.items] == [
            "alice@example.com", "bob@example.com", "carol@example.com"]
        newest = m.users.query(email_or_username=tag, order_by="CREATED_AT_DESC",
                               page=PageRequest(1, 0))
        assert newest.items[0].user_id == made[-1].user_id and newest.has_more
        by_name = m.users.query(email_or_username=tag, order_by="USERNAME",
                                page=PageRequest(2, 1), include_orgs=True)
        assert [u.username for u in by_name.items] == [f"carol-{tag}"]
        assert by_name.items[0].orgs == ()
        for order in ("LAST_ACTIVE_AT_ASC", "LAST_ACTIVE_AT_DESC", "CREATED_AT_ASC"):
            assert m.users.query(email_or_username=tag, order_by=order).total == 3  # type: ignore[arg-type]
        with pytest.raises(InvalidField):
            m.users.query(order_by="SHOE_SIZE")  # type: ignore[arg-type]


def test_update_email_disable_enable_delete(
    service: ServiceFactory, make_seed: Callable[[], TwoOrgs], unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    a = make_seed().a
    with service() as m:
        updated = m.users.update(a.member_id, first_name="New", metadata={"k": 1})
        assert (updated.first_name, updated.metadata) == ("New", {"k": 1})
        moved = m.users.update_email(a.member_id, f"{unique('moved')}@example.com")
        assert not moved.email_confirmed
        assert not m.users.disable(a.member_id).enabled
        assert m.users.enable(a.member_id).enabled
        m.users.delete(a.member_id)
        with pytest.raises(NotFound):
            m.members.fetch(a.org_id, a.member_id)
        with pytest.raises(NotFound):
            m.users.delete(a.member_id)
    for action in ("user.updated", "user.email_changed", "user.disabled", "user.enabled",
                   "user.deleted"):
        rows = superuser.execute(
            "SELECT count(*) FROM tenantkit.audit_log WHERE action = %s AND target_id = %s",
            (action, a.member_id)).fetchone()
        assert rows == (1,), action


def test_disabled_user_is_no_member_anywhere(
    service: ServiceFactory, as_user: Callable, make_seed: Callable[[], TwoOrgs]
) -> None:
    a = make_seed().a
    with service() as m:
        m.users.disable(a.admin_id)
    with as_user(a.admin_id, a.org_id) as m:
        assert m.members.list(a.org_id).items == []
