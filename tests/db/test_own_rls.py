"""Row-level security on tenantkit's own tables, for end-user (app role) sessions."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import tenant_context
from tenantkit.testing import SeededOrg, TwoOrgs


def scalar(
    sessions: sessionmaker[Session], org: SeededOrg, user_id: str, query: str, **params: object
) -> object:
    with tenant_context(org.context(user_id)), sessions() as session:
        return session.execute(sa.text(query), params).scalar()


def test_member_sees_their_org_and_its_members_only(
    app_sessions: sessionmaker[Session], seed: TwoOrgs
) -> None:
    a = seed.a
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert session.execute(
            sa.text("SELECT org_id::text FROM tenantkit.orgs")
        ).scalars().all() == [a.org_id]
        assert session.execute(
            sa.text("SELECT org_id::text, name FROM tenantkit.current_org()")
        ).all() == [(a.org_id, a.name)]
        members = set(
            session.execute(sa.text("SELECT user_id::text FROM tenantkit.memberships")).scalars()
        )
        assert members == {a.owner_id, a.admin_id, a.member_id, seed.shared_user_id}
        users = set(session.execute(
            sa.text("SELECT user_id::text FROM tenantkit.current_org_users()")).scalars())
        assert users == members
        assert seed.b.owner_id not in users
        # the tables themselves: only orgs.org_id is readable (see test_own_oracles)
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            session.execute(sa.text("SELECT email FROM tenantkit.users"))
        session.rollback()
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            session.execute(sa.text("SELECT name FROM tenantkit.orgs"))


def test_unbound_session_sees_no_tenantkit_rows(
    app_sessions: sessionmaker[Session], seed: TwoOrgs
) -> None:
    with app_sessions() as session:
        for source in (
            "tenantkit.orgs",
            "tenantkit.current_org()",
            "tenantkit.current_org_users()",
            "tenantkit.memberships",
            "tenantkit.invites",
            "tenantkit.current_org_invites()",
            "tenantkit.api_keys",
            "tenantkit.feature_flags",
            "tenantkit.audit_log",
            "tenantkit.roles",
            "tenantkit.role_mappings",
        ):
            assert session.execute(sa.text(f"SELECT count(*) FROM {source}")).scalar() == 0


def _add_member(
    sessions: sessionmaker[Session], org: SeededOrg, actor: str, user_id: str, role: str
) -> None:
    with tenant_context(org.context(actor)), sessions() as session:
        session.execute(
            sa.text(
                "INSERT INTO tenantkit.memberships (org_id, user_id, role) VALUES (:o, :u, :r)"
            ),
            {"o": org.org_id, "u": user_id, "r": role},
        )
        session.commit()


@pytest.fixture
def outsider(service_engine: sa.Engine) -> str:
    with service_engine.begin() as conn:
        return str(
            conn.execute(
                sa.text("INSERT INTO tenantkit.users (email) VALUES (:e) RETURNING user_id"),
                {"e": f"outsider.{secrets.token_hex(3)}@example.com"},
            ).scalar_one()
        )


def test_member_cannot_add_members(
    app_sessions: sessionmaker[Session], fresh_orgs: TwoOrgs, outsider: str
) -> None:
    with pytest.raises(sa.exc.ProgrammingError) as info:
        _add_member(app_sessions, fresh_orgs.a, fresh_orgs.a.member_id, outsider, "Member")
    assert info.value.orig is not None and info.value.orig.sqlstate == "42501"


def test_not_even_the_owner_adds_members_directly(
    app_sessions: sessionmaker[Session], fresh_orgs: TwoOrgs, outsider: str
) -> None:
    a = fresh_orgs.a
    for actor in (a.admin_id, a.owner_id):
        with pytest.raises(sa.exc.ProgrammingError) as info:
            _add_member(app_sessions, a, actor, outsider, "Member")
        assert info.value.orig is not None and info.value.orig.sqlstate == "42501"
    assert (
        scalar(
            app_sessions,
            a,
            a.owner_id,
            "SELECT count(*) FROM tenantkit.memberships WHERE user_id = :u",
            u=outsider,
        )
        == 0
    )


def test_admin_cannot_promote_to_owner_or_touch_the_owner(
    app_sessions: sessionmaker[Session], fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.admin_id)), app_sessions() as session:
        with pytest.raises(sa.exc.ProgrammingError):
            session.execute(
                sa.text("UPDATE tenantkit.memberships SET role = 'Owner' WHERE user_id = :u"),
                {"u": a.member_id},
            )
        session.rollback()
        demoted = session.execute(
            sa.text("UPDATE tenantkit.memberships SET role = 'Member' WHERE user_id = :u"),
            {"u": a.owner_id},
        )
        assert demoted.rowcount == 0  # the Owner's row is out of an Admin's reach
        removed = session.execute(
            sa.text("DELETE FROM tenantkit.memberships WHERE user_id = :u"), {"u": a.owner_id}
        )
        assert removed.rowcount == 0
        session.commit()
    assert (
        scalar(
            app_sessions,
            a,
            a.owner_id,
            "SELECT role FROM tenantkit.memberships WHERE user_id = :u",
            u=a.owner_id,
        )
        == "Owner"
    )


def test_member_cannot_change_roles_or_remove_others_but_can_leave(
    app_sessions: sessionmaker[Session], fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert (
            session.execute(
                sa.text("UPDATE tenantkit.memberships SET role = 'Member' WHERE user_id = :u"),
                {"u": a.admin_id},
            ).rowcount
            == 0
        )
        assert (
            session.execute(
                sa.text("DELETE FROM tenantkit.memberships WHERE user_id = :u"), {"u": a.admin_id}
            ).rowcount
            == 0
        )
        assert (
            session.execute(
                sa.text("DELETE FROM tenantkit.memberships WHERE user_id = :u"), {"u": a.member_id}
            ).rowcount
            == 1
        )
        session.commit()
    assert (
        scalar(
            app_sessions,
            a,
            a.owner_id,
            "SELECT count(*) FROM tenantkit.memberships WHERE user_id = :u",
            u=a.member_id,
        )
        == 0
    )


def test_invites_need_can_invite_and_stay_in_their_org(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    with service_engine.begin() as conn:
        for org in (a, b):
            conn.execute(
                sa.text(
                    "INSERT INTO tenantkit.invites (org_id, email, role, token_hash, expires_at) "
                    "VALUES (:o, :e, 'Member', :t, now() + interval '1 day')"
                ),
                {
                    "o": org.org_id,
                    "e": f"x.{secrets.token_hex(3)}@example.com",
                    "t": secrets.token_bytes(32),
                },
            )
    invites = "SELECT org_id::text FROM tenantkit.invites"
    with tenant_context(a.context(a.admin_id)), app_sessions() as session:
        assert session.execute(sa.text(invites)).scalars().all() == [a.org_id]
    with tenant_context(a.context(a.member_id)), app_sessions() as session:
        assert session.execute(sa.text(invites)).scalars().all() == []
        with pytest.raises(sa.exc.ProgrammingError):
            session.execute(
                sa.text(
                    "INSERT INTO tenantkit.invites (org_id, email, role, token_hash, "
                    "inviter_user_id, expires_at) "
                    "VALUES (:o, 'y@example.com', 'Member', '\\x00', :me, now() + interval '1 day')"
                ),
                {"o": a.org_id, "me": a.member_id},
            )


def test_audit_log_needs_can_view_audit_log(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with service_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tenantkit.audit_log (org_id, actor_kind, action) "
                "VALUES (:o, 'service', 'org.created'), (:b, 'service', 'org.created')"
            ),
            {"o": a.org_id, "b": fresh_orgs.b.org_id},
        )
    query = "SELECT count(*) FROM tenantkit.audit_log"
    assert scalar(app_sessions, a, a.owner_id, query) == 1
    assert scalar(app_sessions, a, a.member_id, query) == 0


def test_end_users_cannot_raise_plan_limits(
    app_sessions: sessionmaker[Session], fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.owner_id)), app_sessions() as session:
        with pytest.raises(sa.exc.ProgrammingError) as info:
            session.execute(sa.text("UPDATE tenantkit.orgs SET max_users = 1000"))
        assert info.value.orig is not None and info.value.orig.sqlstate == "42501"
        session.rollback()
        assert session.execute(sa.text("UPDATE tenantkit.orgs SET name = 'Renamed'")).rowcount == 1
        session.commit()
