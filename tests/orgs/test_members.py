"""Members through the service: add, change role, remove, deactivate, list, and limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from tenantkit import Conflict, InvalidField, LimitReached, NotFound
from tenantkit.orgs import PageRequest
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, audit_rows

GHOST = "00000000-0000-4000-8000-000000000000"


def new_users(service: ServiceFactory, unique: Callable[[str], str], n: int,
              domain: str = "example.com") -> list[str]:
    with service() as m:
        return [m.users.create(f"{unique('u')}@{domain}", autojoin=False).user_id
                for _ in range(n)]


def test_add_change_deactivate_reactivate_remove(
    service: ServiceFactory, seed: TwoOrgs, unique: Callable[[str], str],
    superuser: psycopg.Connection,
) -> None:
    with service() as m:
        org = m.orgs.create(unique("members"))
    [user] = new_users(service, unique, 1)
    with service() as m:
        added = m.members.add(org.org_id, user, "Member")
        assert (added.role, added.status) == ("Member", "active")
        assert m.members.change_role(org.org_id, user, "Admin").role == "Admin"
        assert m.members.deactivate(org.org_id, user).status == "inactive"
        assert m.members.list(org.org_id).total == 0
        assert m.members.list(org.org_id, include_inactive=True).total == 1
        assert m.members.reactivate(org.org_id, user).status == "active"
        m.members.remove(org.org_id, user)
        with pytest.raises(NotFound):
            m.members.fetch(org.org_id, user)
    actions = ["member.added", "member.role_changed", "member.deactivated",
               "member.reactivated", "member.removed"]
    for action in actions:
        assert len(audit_rows(superuser, org.org_id, action)) == 1, action


def test_add_errors(service: ServiceFactory, seed: TwoOrgs, unique: Callable[[str], str]) -> None:
    a = seed.a
    [user] = new_users(service, unique, 1)
    with pytest.raises(Conflict), service() as m:
        m.members.add(a.org_id, a.member_id, "Member")
    with pytest.raises(InvalidField) as caught, service() as m:
        m.members.add(a.org_id, user, "Emperor")
    assert "role" in caught.value.fields
    with pytest.raises(InvalidField) as caught, service() as m:
        m.members.add(a.org_id, user, "Member", ["Nope"])
    assert "role" in caught.value.fields
    with pytest.raises(NotFound), service() as m:
        m.members.add(GHOST, user, "Member")
    with pytest.raises(NotFound), service() as m:
        m.members.add(a.org_id, GHOST, "Member")
    with pytest.raises(InvalidField) as caught, service() as m:
        m.members.add(a.org_id, "x", "Member")
    assert "user_id" in caught.value.fields
    with pytest.raises(NotFound), service() as m:
        m.members.change_role(a.org_id, user, "Admin")
    with pytest.raises(NotFound), service() as m:
        m.members.remove(a.org_id, user)


def test_list_pages_and_filters_by_role(
    service: ServiceFactory, unique: Callable[[str], str]
) -> None:
    with service() as m:
        org = m.orgs.create(unique("list"))
    people = new_users(service, unique, 5)
    for i, user in enumerate(people):
        with service() as m:
            m.members.add(org.org_id, user, "Admin" if i % 2 else "Member")
    with service() as m:
        admins = m.members.list(org.org_id, role="Admin")
        assert {x.user.user_id for x in admins.items} == {people[1], people[3]}
        first = m.members.list(org.org_id, page=PageRequest(2, 0), include_orgs=True)
        assert [x.user.user_id for x in first.items] == people[:2]
        assert (first.total, first.has_more) == (5, True)
        info = first.items[0].user.orgs
        assert info is not None and info[0].org_id == org.org_id
        assert info[0].user_role == "Member"
        assert info[0].inherited_user_roles_plus_current_role == ("Member",)
        third = m.members.list(org.org_id, page=PageRequest(2, 2))
        assert [x.user.user_id for x in third.items] == people[4:]


def test_max_users_counts_active_members(
    service: ServiceFactory, unique: Callable[[str], str]
) -> None:
    with service() as m:
        org = m.orgs.create(unique("cap"), max_users=2)
    a, b, c = new_users(service, unique, 3)
    with service() as m:
        m.members.add(org.org_id, a, "Member")
        m.members.add(org.org_id, b, "Member")
    with pytest.raises(LimitReached), service() as m:
        m.members.add(org.org_id, c, "Member")
    with service() as m:
        m.members.deactivate(org.org_id, b)  # frees a seat
        m.members.add(org.org_id, c, "Member")
    with pytest.raises(LimitReached), service() as m:
        m.members.reactivate(org.org_id, b)


@pytest.fixture
def max_orgs_per_user(service: ServiceFactory) -> Iterator[Callable[[int | None], None]]:
    def set_(value: int | None) -> None:
        with service() as m:
            m.settings.update(max_orgs_per_user=value)

    yield set_
    set_(None)


def test_max_orgs_per_user(
    service: ServiceFactory, unique: Callable[[str], str],
    max_orgs_per_user: Callable[[int | None], None],
) -> None:
    [user] = new_users(service, unique, 1)
    with service() as m:
        one, two = m.orgs.create(unique("o1")), m.orgs.create(unique("o2"))
        m.members.add(one.org_id, user, "Member")
    max_orgs_per_user(1)
    with pytest.raises(LimitReached), service() as m:
        m.members.add(two.org_id, user, "Member")
    max_orgs_per_user(2)
    with service() as m:
        m.members.add(two.org_id, user, "Member")
