"""The end-user path: the same service on an app-role session bound to a user,
where PostgreSQL's policies, not Python, refuse what the user may not do."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import FeatureDisabled, Forbidden, TenantContext, tenant_context
from tenantkit.orgs import Management
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, UserFactory, audit_rows

RAW_INVITE = sa.text(
    "INSERT INTO tenantkit.invites (org_id, email, role, inviter_user_id, token_hash, expires_at)"
    " VALUES (:org, :email, 'Member', :me, :hash, now() + interval '1 day')"
)
RAW_ROLE = sa.text(
    "UPDATE tenantkit.memberships SET role = :role WHERE org_id = :org AND user_id = :user"
)


def raw(app_engine: Engine, ctx: TenantContext, stmt: sa.TextClause, **params: object) -> int:
    """Run `stmt` bound to `ctx` and roll back; the number of rows it changed."""
    with tenant_context(ctx), app_engine.connect() as conn, conn.begin() as tx:
        try:
            return conn.execute(stmt, params).rowcount
        finally:
            tx.rollback()


def test_member_cannot_invite(
    as_user: UserFactory, app_engine: Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.member_id, a.org_id) as m:
        m.invites.create(a.org_id, email="friend@example.com", role="Member")
    # the service adds no check of its own: the same INSERT in plain SQL is refused
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        raw(app_engine, a.context(a.member_id), RAW_INVITE, org=a.org_id,
            email="friend@example.com", me=a.member_id, hash=uuid.uuid4().bytes)
    with as_user(a.admin_id, a.org_id) as m:
        assert m.invites.create(a.org_id, email="friend@example.com", role="Member").token


def test_member_cannot_change_roles(
    as_user: UserFactory, app_engine: Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.member_id, a.org_id) as m:
        m.members.change_role(a.org_id, a.member_id, "Owner")
    assert raw(app_engine, a.context(a.member_id), RAW_ROLE, role="Admin", org=a.org_id,
               user=a.member_id) == 0
    with pytest.raises(Forbidden), as_user(a.member_id, a.org_id) as m:
        m.members.remove(a.org_id, a.admin_id)


def test_admin_cannot_promote_to_owner(
    as_user: UserFactory, app_engine: Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.admin_id, a.org_id) as m:
        m.members.change_role(a.org_id, a.member_id, "Owner")
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        raw(app_engine, a.context(a.admin_id), RAW_ROLE, role="Owner", org=a.org_id,
            user=a.member_id)
    with pytest.raises(Forbidden), as_user(a.admin_id, a.org_id) as m:
        m.members.change_role(a.org_id, a.owner_id, "Member")  # nor demote someone above
    with as_user(a.admin_id, a.org_id) as m:
        assert m.members.change_role(a.org_id, a.member_id, "Admin").role == "Admin"
    with as_user(a.owner_id, a.org_id) as m:
        assert m.members.change_role(a.org_id, a.member_id, "Owner").role == "Owner"


def test_nobody_reads_another_orgs_invites(
    service: ServiceFactory, as_user: UserFactory, app_engine: Engine, fresh_orgs: TwoOrgs
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    with service() as m:
        m.invites.create(a.org_id, email="only-a@example.com", role="Member")
        m.invites.create(b.org_id, email="only-b@example.com", role="Member")
    # B's owner, and the user in both orgs while bound to B, see none of A's
    for user in (b.owner_id, fresh_orgs.shared_user_id):
        with as_user(user, b.org_id) as m:
            assert m.invites.list_pending(org_id=a.org_id).items == []
            assert {i.org_id for i in m.invites.list_pending().items} == {b.org_id}
        with tenant_context(TenantContext(user, b.org_id)), app_engine.connect() as conn:
            orgs_seen = conn.execute(sa.text("SELECT DISTINCT org_id::text FROM tenantkit.invites"))
            assert set(orgs_seen.scalars()) == {b.org_id}
    # binding to A without being a member of A shows nothing either
    with as_user(b.owner_id, a.org_id) as m:
        assert m.invites.list_pending().items == []
    with pytest.raises(Forbidden), as_user(b.owner_id, b.org_id) as m:
        m.invites.create(a.org_id, email="sneak@example.com", role="Member")


def test_audit_log_needs_permission(
    as_user: UserFactory, fresh_orgs: TwoOrgs, superuser: psycopg.Connection
) -> None:
    a = fresh_orgs.a
    with as_user(a.admin_id, a.org_id) as m:
        m.orgs.update(a.org_id, metadata={"by": "admin"})
    [(kind, actor, *_rest)] = audit_rows(superuser, a.org_id, "org.updated")
    assert (kind, actor) == ("user", a.admin_id)
    with as_user(a.admin_id, a.org_id) as m:
        actions = [e.action for e in m.audit_log.list(a.org_id).items]
        assert actions[0] == "org.updated"
    with pytest.raises(Forbidden), as_user(a.member_id, a.org_id) as m:
        m.audit_log.list(a.org_id)
    # B's Admin (also A's Member) bound to B may read B's log, but never A's
    with as_user(fresh_orgs.shared_user_id, fresh_orgs.b.org_id) as m:
        assert m.audit_log.list(a.org_id).items == []


def test_member_leaves_and_is_audited(
    as_user: UserFactory, fresh_orgs: TwoOrgs, superuser: psycopg.Connection
) -> None:
    a = fresh_orgs.a
    with as_user(a.member_id, a.org_id) as m:
        m.members.remove(a.org_id, a.member_id)
    [(kind, actor, *_rest)] = audit_rows(superuser, a.org_id, "member.removed")
    assert (kind, actor) == ("user", a.member_id)


def test_owner_deletes_org_admin_cannot(as_user: UserFactory, fresh_orgs: TwoOrgs) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.admin_id, a.org_id) as m:
        m.orgs.delete(a.org_id)
    with as_user(a.owner_id, a.org_id) as m:
        m.orgs.delete(a.org_id)


def test_self_service_org_creation(
    service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs,
    superuser: psycopg.Connection,
) -> None:
    user, b = fresh_orgs.b.member_id, fresh_orgs.b
    with as_user(user, b.org_id) as m:  # bound to the org they are in; the new org is theirs
        org = m.orgs.create("My own org", metadata={"self": True})
    assert org.name == "My own org" and org.metadata == {"self": True}
    assert org.org_id not in (fresh_orgs.a.org_id, b.org_id)
    with service() as m:
        assert m.members.fetch(org.org_id, user).role == "Owner"
    [(kind, actor, *_rest)] = audit_rows(superuser, org.org_id, "org.created")
    assert (kind, actor) == ("user", user)
    with as_user(user, org.org_id) as m:
        assert m.orgs.fetch(org.org_id) == org
    # End users never choose an org id (nothing to probe) nor set plan fields.
    with pytest.raises(Forbidden, match="org_id"), as_user(user, b.org_id) as m:
        m.orgs.create("Chosen id", org_id=str(uuid.uuid4()))
    with pytest.raises(Forbidden), as_user(user, b.org_id) as m:
        m.orgs.create("Bigger", max_users=1000)
    with service() as m:
        m.users.update(user, can_create_orgs=False)
    with pytest.raises(Forbidden), as_user(user, b.org_id) as m:
        m.orgs.create("Again")
    with service() as m:
        m.settings.update(users_can_create_orgs=False)
    try:
        with pytest.raises(FeatureDisabled), as_user(b.owner_id, b.org_id) as m:
            m.orgs.create("Disabled")
    finally:
        with service() as m:
            m.settings.update(users_can_create_orgs=True)


def test_end_user_cannot_write_users_or_flags(
    as_user: UserFactory, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with pytest.raises(Forbidden), as_user(a.owner_id, a.org_id) as m:
        m.users.update(a.member_id, first_name="Mallory")
    with pytest.raises(Forbidden), as_user(a.member_id, a.org_id) as m:
        m.feature_flags.set(a.org_id, "beta")
    with as_user(a.admin_id, a.org_id) as m:
        assert m.feature_flags.set(a.org_id, "beta").enabled
    with as_user(a.member_id, a.org_id) as m:
        assert m.feature_flags.is_enabled(a.org_id, "beta")


def test_management_defaults_to_the_bound_user(
    app_engine: Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.admin_id)), app_engine.begin() as conn:
        assert Management(conn).actor.user_id == a.admin_id

