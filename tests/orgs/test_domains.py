"""Domain rules (autojoin, restrict, extra domains) and isolated orgs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tenantkit import Conflict, Forbidden, InvalidField
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory


def test_autojoin_by_primary_and_extra_domains(
    service: ServiceFactory, unique: Callable[[str], str]
) -> None:
    primary, extra, other = (f"{unique(x)}.example" for x in ("main", "extra", "other"))
    with service() as m:
        joins = m.orgs.create(unique("aj"), domain=primary, enable_auto_joining_by_domain=True)
        m.domains.add(joins.org_id, extra)
        quiet = m.orgs.create(unique("no-aj"), domain=primary)  # matching, but no autojoin
    with service() as m:
        by_primary = m.users.create(f"ada@{primary.upper()}", email_confirmed=True)
        by_extra = m.users.create(f"bob@{extra}", email_confirmed=True)
        outsider = m.users.create(f"eve@{other}", email_confirmed=True)
        opted_out = m.users.create(f"cy@{primary}", email_confirmed=True, autojoin=False)
    with service() as m:
        members = {x.user.user_id: x.membership.role for x in m.members.list(joins.org_id).items}
        assert members == {by_primary.user_id: "Member", by_extra.user_id: "Member"}
        assert m.members.list(quiet.org_id).total == 0
        assert outsider.user_id not in members and opted_out.user_id not in members
        assert m.users.autojoin(opted_out.user_id) == [joins.org_id]
        assert m.users.autojoin(opted_out.user_id) == []  # already a member


def test_autojoin_skips_full_orgs(service: ServiceFactory, unique: Callable[[str], str]) -> None:
    domain = f"{unique('full')}.example"
    with service() as m:
        org = m.orgs.create(unique("full"), domain=domain, enable_auto_joining_by_domain=True,
                            max_users=1)
        m.users.create(f"first@{domain}", email_confirmed=True)
        # the org is full: no error, no join
        second = m.users.create(f"second@{domain}", email_confirmed=True)
        assert m.users.autojoin(second.user_id) == []
        assert m.members.list(org.org_id).total == 1


def test_restrict_refuses_other_domains(
    service: ServiceFactory, unique: Callable[[str], str]
) -> None:
    domain, extra = f"{unique('r')}.example", f"{unique('rx')}.example"
    with service() as m:
        org = m.orgs.create(unique("restricted"), domain=domain,
                            members_must_have_matching_domain=True)
        inside = m.users.create(f"in@{domain}", email_confirmed=True, autojoin=False)
        outside = m.users.create(f"out@{unique('elsewhere')}.example", email_confirmed=True,
                                 autojoin=False)
        later = m.users.create(f"later@{extra}", email_confirmed=True, autojoin=False)
        m.members.add(org.org_id, inside.user_id, "Member")
    with pytest.raises(Forbidden, match="domain"), service() as m:
        m.members.add(org.org_id, outside.user_id, "Member")
    with pytest.raises(Forbidden, match="domain"), service() as m:
        m.invites.create(org.org_id, email=f"x@{unique('no')}.example", role="Member")
    with pytest.raises(Forbidden), service() as m:
        m.members.add(org.org_id, later.user_id, "Member")
    with service() as m:
        m.domains.add(org.org_id, extra)
        m.members.add(org.org_id, later.user_id, "Member")
        with pytest.raises(InvalidField):
            m.domains.remove(org.org_id, domain)
        assert extra not in m.domains.remove(org.org_id, extra).extra_domains
    with service() as m:
        off = m.domains.set_rules(org.org_id, restrict=False)
        assert not off.domain_restrict
        m.members.add(org.org_id, outside.user_id, "Member")


def test_isolated_orgs(
    service: ServiceFactory, seed: TwoOrgs, unique: Callable[[str], str]
) -> None:
    email = f"{unique('iso')}@example.com"
    with service() as m:
        first = m.orgs.create(unique("iso1"), isolated=True)
        second = m.orgs.create(unique("iso2"), isolated=True)
        shared = m.users.create(email, autojoin=False)
        # the same email exists separately per isolated org (and project-wide)
        one = m.users.create(email, isolated_org_id=first.org_id)
        two = m.users.create(email, isolated_org_id=second.org_id)
        assert len({shared.user_id, one.user_id, two.user_id}) == 3
        assert m.users.fetch_by_email(email).user_id == shared.user_id
        assert m.users.fetch_by_email(email, isolated_org_id=first.org_id).user_id == one.user_id
        m.members.add(first.org_id, one.user_id, "Owner")
    with pytest.raises(Conflict), service() as m:
        m.users.create(email.upper(), isolated_org_id=first.org_id)
    with pytest.raises(Conflict, match="isolated"), service() as m:  # cannot join another org
        m.members.add(seed.a.org_id, one.user_id, "Member")
    with pytest.raises(Conflict, match="isolated"), service() as m:
        m.members.add(second.org_id, one.user_id, "Member")
    with pytest.raises(Conflict, match="isolated"), service() as m:  # nor a shared user join it
        m.members.add(first.org_id, shared.user_id, "Member")
    with pytest.raises(InvalidField), service() as m:
        m.users.create(f"x{email}", isolated_org_id=seed.a.org_id)  # not an isolated org
    with service() as m:  # an invite into an isolated org creates the user inside it
        token = m.invites.create(second.org_id, email=email, role="Member").token
        accepted = m.invites.accept(token)
        assert accepted.user_id == two.user_id
