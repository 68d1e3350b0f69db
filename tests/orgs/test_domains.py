"""Domain rules (autojoin, restrict, extra domains) and isolated orgs."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
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
    # an isolated org takes no invites (PropelAuth's concepts): members are provisioned
    with pytest.raises(Conflict, match="isolated org takes no invites"), service() as m:
        m.invites.create(second.org_id, email=email, role="Member")


def test_an_org_converts_to_isolated(
    service: ServiceFactory, unique: Callable[[str], str], superuser: psycopg.Connection
) -> None:
    with service() as m:
        org = m.orgs.create(unique("convert"))
        other = m.orgs.create(unique("other"))
        alone = m.users.create(f"{unique('alone')}@example.com")
        both = m.users.create(f"{unique('both')}@example.com")
        m.members.add(org.org_id, alone.user_id, "Owner")
        m.members.add(org.org_id, both.user_id, "Member")
        m.members.add(other.org_id, both.user_id, "Member")
        m.invites.create(org.org_id, email=f"{unique('inv')}@example.com", role="Member")
    with pytest.raises(Conflict, match=both.user_id), service() as m:
        m.orgs.convert_to_isolated(org.org_id)  # names the member blocking it
    with service() as m:
        m.members.remove(other.org_id, both.user_id)
        converted = m.orgs.convert_to_isolated(org.org_id)
        assert converted.isolated
        assert m.users.fetch(alone.user_id).isolated_org_id == org.org_id
        assert m.invites.list_pending(org_id=org.org_id).items == []  # revoked
    with pytest.raises(Conflict, match="isolated"), service() as m:
        m.members.add(other.org_id, alone.user_id, "Member")  # cannot join another org now
    with pytest.raises(Conflict, match="already"), service() as m:
        m.orgs.convert_to_isolated(org.org_id)
    [(kind,)] = superuser.execute(
        "SELECT actor_kind FROM tenantkit.audit_log WHERE org_id = %s AND action = "
        "'org.converted_to_isolated'", (org.org_id,)).fetchall()
    assert kind == "service"
