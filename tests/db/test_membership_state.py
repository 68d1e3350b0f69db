"""Membership and user state take effect on the very next transaction."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import tenant_context
from tenantkit.testing import TwoOrgs
from tests.conftest import NOTES_PER_ORG

COUNT = sa.text("SELECT count(*) FROM public.notes")
CAN_DELETE = sa.text("SELECT tenantkit.has_min_role('Admin')")


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.execute(COUNT).scalar_one())


def test_removed_membership_sees_nothing_next_transaction(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.member_id)):
        assert count(app_sessions) == NOTES_PER_ORG
        with service_engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM tenantkit.memberships WHERE org_id = :o AND user_id = :u"),
                {"o": a.org_id, "u": a.member_id},
            )
        assert count(app_sessions) == 0
    # The other org is untouched.
    with tenant_context(fresh_orgs.b.context(fresh_orgs.b.member_id)):
        assert count(app_sessions) == NOTES_PER_ORG


def test_inactive_membership_sees_nothing(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.admin_id)):
        assert count(app_sessions) == NOTES_PER_ORG
        with service_engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE tenantkit.memberships SET status = 'inactive' "
                    "WHERE org_id = :o AND user_id = :u"
                ),
                {"o": a.org_id, "u": a.admin_id},
            )
        assert count(app_sessions) == 0


def test_role_downgrade_is_immediate(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.admin_id)):
        with app_sessions() as session:
            assert session.execute(CAN_DELETE).scalar() is True
        with service_engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE tenantkit.memberships SET role = 'Member' "
                    "WHERE org_id = :o AND user_id = :u"
                ),
                {"o": a.org_id, "u": a.admin_id},
            )
        with app_sessions() as session:
            assert session.execute(CAN_DELETE).scalar() is False
            assert session.execute(sa.text("SELECT tenantkit.current_role()")).scalar() == "Member"
            assert session.execute(COUNT).scalar() == NOTES_PER_ORG  # still a member


def test_disabled_or_locked_user_sees_nothing(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    for user_id, column in ((a.owner_id, "enabled = false"), (b.owner_id, "locked = true")):
        org = a if user_id == a.owner_id else b
        with tenant_context(org.context(user_id)):
            assert count(app_sessions) == NOTES_PER_ORG
            with service_engine.begin() as conn:
                conn.execute(
                    sa.text(f"UPDATE tenantkit.users SET {column} WHERE user_id = :u"),
                    {"u": user_id},
                )
            assert count(app_sessions) == 0
            with app_sessions() as session:
                assert (
                    session.execute(sa.text("SELECT tenantkit.current_org_id()")).scalar() is None
                )


def test_deleted_org_sees_nothing(
    app_sessions: sessionmaker[Session],
    service_engine: sa.Engine,
    fresh_orgs: TwoOrgs,
    count_notes: object,
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.owner_id)):
        assert count(app_sessions) == NOTES_PER_ORG
        with service_engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM tenantkit.orgs WHERE org_id = :o"), {"o": a.org_id})
        assert count(app_sessions) == 0
        with app_sessions() as session:
            assert session.execute(sa.text("SELECT count(*) FROM tenantkit.orgs")).scalar() == 0
    assert count_notes(a.org_id) == 0  # type: ignore[operator]  # the notes FK cascades
