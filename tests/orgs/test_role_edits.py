"""Role mappings edited at runtime by the backend: add, rename (holders follow),
reorder, permissions and descriptions, and delete only once nobody holds a role."""

from __future__ import annotations

import secrets

import pytest

from tenantkit import Conflict, Forbidden, NotFound
from tenantkit.orgs import Role
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, UserFactory


def test_a_mapping_is_edited_and_its_holders_follow(service: ServiceFactory) -> None:
    name = f"crew-{secrets.token_hex(3)}"
    with service() as m:
        m.role_mappings.create(name, [Role("Boss", 1, ("tenantkit::can_invite",)),
                                      Role("Staff", 2)])
        org = m.orgs.create(f"org {name}", custom_role_mapping_name=name)
        user = m.users.create(f"{name}@example.com")
        m.members.add(org.org_id, user.user_id, "Staff")
        m.invites.create(org.org_id, email=f"inv-{name}@example.com", role="Staff")

        m.role_mappings.add_role(name, "Intern")
        edited = m.role_mappings.add_role(name, "Lead", rank=2, description="runs a team")
        assert [(r.name, r.rank) for r in edited.roles] == [
            ("Boss", 1), ("Lead", 2), ("Staff", 3), ("Intern", 4)]
        assert edited.role("Lead").description == "runs a team"  # type: ignore[union-attr]

        renamed = m.role_mappings.update_role(name, "Staff", new_name="Crew",
                                              permissions=["app::read"],
                                              description="does the work")
        crew = renamed.role("Crew")
        assert crew is not None and crew.permissions == ("app::read",) and crew.rank == 3
        assert m.members.fetch(org.org_id, user.user_id).role == "Crew"
        assert [i.role for i in m.invites.list_pending(org_id=org.org_id).items] == ["Crew"]

        order = ["Boss", "Crew", "Lead", "Intern"]
        assert [r.name for r in m.role_mappings.reorder(name, order).roles] == order
    with pytest.raises(Conflict, match="move them first"), service() as m:
        m.role_mappings.delete_role(name, "Crew")
    with service() as m:
        m.members.change_role(org.org_id, user.user_id, "Intern")
        for invite in m.invites.list_pending(org_id=org.org_id).items:
            m.invites.revoke(org.org_id, invite.email)
        left = m.role_mappings.delete_role(name, "Crew")
        assert [(r.name, r.rank) for r in left.roles] == [("Boss", 1), ("Lead", 2), ("Intern", 3)]
        assert m.role_mappings.fetch(name).num_orgs_subscribed == 1


def test_bad_edits_are_refused(service: ServiceFactory) -> None:
    name = f"bad-{secrets.token_hex(3)}"
    with service() as m:
        m.role_mappings.create(name, ["Only"])
    for attempt, error in (
        (lambda m: m.role_mappings.add_role(name, "Only"), Conflict),
        (lambda m: m.role_mappings.update_role(name, "Ghost", description="x"), NotFound),
        (lambda m: m.role_mappings.delete_role(name, "Only"), Conflict),  # the last role
        (lambda m: m.role_mappings.reorder(name, ["Only", "Extra"]), Exception),
        (lambda m: m.role_mappings.add_role(f"nobody-{name}", "X"), NotFound),
    ):
        with pytest.raises(error), service() as m:
            attempt(m)


def test_end_users_do_not_edit_mappings(as_user: UserFactory, fresh_orgs: TwoOrgs) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.owner_id, a.org_id) as m:
        m.role_mappings.add_role("Default", "Sneaky")


def test_the_default_mapping_counts_orgs_using_it_implicitly(
    service: ServiceFactory, fresh_orgs: TwoOrgs
) -> None:
    with service() as m:
        default = next(x for x in m.role_mappings.list() if x.is_default)
        assert default.num_orgs_subscribed >= 2  # the seeded orgs name no mapping
