"""Org API keys, feature flags, role mappings and the append-only audit log."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from tenantkit import Forbidden, InvalidField, NotFound, Unauthorized
from tenantkit.orgs import Role
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, UserFactory, audit_rows


def test_org_api_key_lifecycle(
    service: ServiceFactory, as_user: UserFactory, make_seed: Callable[[], TwoOrgs],
    superuser: psycopg.Connection,
) -> None:
    orgs = make_seed()
    a = orgs.a
    with service() as m:
        created = m.api_keys.create(org_id=a.org_id, name="ci", permissions=["read"])
    assert created.secret.startswith("tk_org_") and created.secret not in repr(created)
    stored = superuser.execute(
        "SELECT secret_hash, prefix FROM tenantkit.api_keys WHERE api_key_id = %s",
        (created.api_key.api_key_id,)).fetchone()
    assert stored is not None and created.secret.encode() not in bytes(stored[0])
    with service() as m:
        valid = m.api_keys.validate(created.secret)
        assert valid.org is not None and valid.org.org_id == a.org_id
        assert valid.api_key.permissions == ["read"]
        assert [k.api_key_id for k in m.api_keys.list(org_id=a.org_id).items] == [
            created.api_key.api_key_id]
    with as_user(a.admin_id, a.org_id) as m:  # can_manage_api_keys
        assert m.api_keys.list(org_id=a.org_id).total == 1
    with as_user(a.member_id, a.org_id) as m:
        assert m.api_keys.list(org_id=a.org_id).total == 0  # the policy hides them
        with pytest.raises(Forbidden):
            m.api_keys.create(org_id=a.org_id, name="sneaky")
    with as_user(orgs.b.owner_id, orgs.b.org_id) as m, pytest.raises(NotFound):
        m.api_keys.archive(created.api_key.api_key_id)
    with as_user(a.owner_id, a.org_id) as m:
        assert m.api_keys.archive(created.api_key.api_key_id).archived_at is not None
    with service() as m:
        with pytest.raises(Unauthorized):
            m.api_keys.validate(created.secret)
        with pytest.raises(Unauthorized):
            m.api_keys.validate("tk_org_made-up")
        for hostile in ("tk_org_\ud800", "tk_org_\x00", "tk_org_é"):
            with pytest.raises(Unauthorized):
                m.api_keys.validate(hostile)
        assert m.api_keys.list(org_id=a.org_id, archived=True).total == 1
    assert len(audit_rows(superuser, a.org_id, "api_key.created")) == 1
    assert len(audit_rows(superuser, a.org_id, "api_key.archived")) == 1
    with pytest.raises(InvalidField), service() as m:
        m.api_keys.create(kind="org")


def test_feature_flags(service: ServiceFactory, make_seed: Callable[[], TwoOrgs]) -> None:
    a = make_seed().a
    with service() as m:
        assert not m.feature_flags.is_enabled(a.org_id, "beta")
        m.feature_flags.set(a.org_id, "beta", value={"limit": 3})
        m.feature_flags.set(a.org_id, "alpha", enabled=False)
        assert m.feature_flags.is_enabled(a.org_id, "beta")
        assert not m.feature_flags.is_enabled(a.org_id, "alpha")
        assert [(f.name, f.value) for f in m.feature_flags.list(a.org_id)] == [
            ("alpha", None), ("beta", {"limit": 3})]
        m.feature_flags.set(a.org_id, "beta", enabled=False)
        assert not m.feature_flags.is_enabled(a.org_id, "beta")
        m.feature_flags.remove(a.org_id, "alpha")
        with pytest.raises(NotFound):
            m.feature_flags.remove(a.org_id, "alpha")
        with pytest.raises(InvalidField):
            m.feature_flags.set(a.org_id, " ")
    with pytest.raises(NotFound), service() as m:
        m.feature_flags.set("00000000-0000-4000-8000-000000000000", "beta")


def test_role_mappings(
    service: ServiceFactory, as_user: UserFactory, make_seed: Callable[[], TwoOrgs],
    unique: Callable[[str], str],
) -> None:
    a = make_seed().a
    name = unique("mapping")
    with service() as m:
        created = m.role_mappings.create(name, [
            Role("Boss", 0, ("tenantkit::can_invite", "tenantkit::can_change_roles")),
            "Worker",
        ])
        assert [(r.name, r.rank) for r in created.roles] == [("Boss", 1), ("Worker", 2)]
        with pytest.raises(InvalidField):  # A's members hold Owner/Admin/Member
            m.role_mappings.subscribe(a.org_id, name)
        org = m.orgs.create(unique("mapped"), custom_role_mapping_name=name)
        listed = {x.name: x for x in m.role_mappings.list()}
        assert listed[name].num_orgs_subscribed == 1 and listed["Default"].is_default
        user = m.users.create(f"{unique('w')}@example.com", autojoin=False)
        m.members.add(org.org_id, user.user_id, "Boss")
        boss = m.users.fetch(user.user_id, include_orgs=True).orgs
        assert boss is not None
        assert boss[0].inherited_user_roles_plus_current_role == ("Boss", "Worker")
    with pytest.raises(InvalidField), service() as m:  # not a role of the org's mapping
        m.members.add(org.org_id, a.member_id, "Member")
    with pytest.raises(InvalidField), service() as m:
        m.role_mappings.create(unique("empty"), [])
    with pytest.raises(InvalidField), service() as m:
        m.role_mappings.create(unique("dup"), ["A", "A"])
    with as_user(a.member_id, a.org_id) as m:  # readable by members, for role pickers
        assert any(x.name == "Default" for x in m.role_mappings.list())


def test_audit_log_is_append_only(
    service: ServiceFactory, make_seed: Callable[[], TwoOrgs], superuser: psycopg.Connection,
    service_engine: object,
) -> None:
    a = make_seed().a
    with service() as m:
        m.orgs.update(a.org_id, name="Audited")
        entries = m.audit_log.list(a.org_id).items
        assert entries[0].action == "org.updated"
    import sqlalchemy as sa

    for sql in ("UPDATE tenantkit.audit_log SET action = 'x'",
                "DELETE FROM tenantkit.audit_log"):
        with pytest.raises(sa.exc.DBAPIError), service() as m:
            m.conn.execute(sa.text(sql))
