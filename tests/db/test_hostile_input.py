"""Hostile input: shadowing temp tables, injection-shaped ids, spoofed settings."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import InvalidTenantContext, TenantContext, tenant_context
from tenantkit.testing import TwoOrgs

FUNCTIONS = sa.text(
    "SELECT tenantkit.current_org_id()::text, tenantkit.current_role(), "
    "tenantkit.has_min_role('Owner'), tenantkit.has_role('Owner'), "
    "tenantkit.has_permission('tenantkit::can_delete_org'), "
    "tenantkit.has_all_permissions(ARRAY['tenantkit::can_invite']), "
    "tenantkit.is_member(CAST(:user AS uuid))"
)


def test_temp_tables_named_like_tenantkit_tables_change_nothing(
    app_sessions: sessionmaker[Session], notes: TwoOrgs, app_may_create_temp: None
) -> None:
    a = notes.a
    ctx = a.context(a.member_id)
    with tenant_context(ctx), app_sessions() as session:
        before = session.execute(FUNCTIONS, {"user": a.member_id}).one()
        assert before[:3] == (a.org_id, "Member", False)
        # pg_temp is searched first for relations: an unpinned function would read these.
        for ddl in (
            "CREATE TEMP TABLE memberships (org_id uuid, user_id uuid, role text, "
            "additional_roles text[], status text)",
            "CREATE TEMP TABLE users (user_id uuid, enabled bool, locked bool)",
            "CREATE TEMP TABLE orgs (org_id uuid, custom_role_mapping_name text)",
            "CREATE TEMP TABLE roles (mapping_id uuid, name text, rank int, permissions text[])",
        ):
            session.execute(sa.text(ddl))
        session.execute(
            sa.text("INSERT INTO memberships VALUES (:o, :u, 'Owner', '{}', 'active')"),
            {"o": notes.b.org_id, "u": a.member_id},
        )
        session.execute(sa.text("INSERT INTO users VALUES (:u, true, false)"), {"u": a.member_id})
        after = session.execute(FUNCTIONS, {"user": a.member_id}).one()
        assert after == before
        session.rollback()


def test_spoofed_org_setting_is_rechecked_against_memberships(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    # Untrusted SQL can set the GUC, but membership is re-read: B stays hidden from A's member.
    with tenant_context(notes.a.context(notes.a.member_id)), app_sessions() as session:
        session.execute(
            sa.text("SELECT set_config('tenantkit.org_id', :o, true)"), {"o": notes.b.org_id}
        )
        assert session.execute(sa.text("SELECT count(*) FROM public.notes")).scalar() == 0
        session.rollback()


@pytest.mark.parametrize(
    "bad",
    [
        "1'; SET ROLE postgres; --",
        "00000000-0000-0000-0000-00000000000'",
        "1\x00",
        "{12345678-1234-1234-1234-123456789abc}",
        "urn:uuid:12345678-1234-1234-1234-123456789abc",
        "12345678123412341234123456789abc",
        " 12345678-1234-1234-1234-123456789abc",
        "12345678-1234-1234-1234-123456789abc\n",
        "١٢٣٤٥٦٧٨-1234-1234-1234-123456789abc",
        "",
        "x" * 1_000_000,
        1,
        None,
        ["12345678-1234-1234-1234-123456789abc"],
    ],
)
def test_injection_shaped_ids_are_refused_before_any_round_trip(bad: object) -> None:
    good = str(uuid.uuid4())
    with pytest.raises(InvalidTenantContext):
        TenantContext(bad, good)  # type: ignore[arg-type]
    with pytest.raises(InvalidTenantContext):
        TenantContext(good, bad)  # type: ignore[arg-type]


def test_upper_case_and_uuid_objects_are_normalised() -> None:
    value = uuid.uuid4()
    ctx = TenantContext(str(value).upper(), value)
    assert ctx.user_id == ctx.org_id == str(value)
    assert ctx == TenantContext(value, str(value))
    with pytest.raises(AttributeError):
        ctx.org_id = "x"  # type: ignore[misc]


def test_context_pickles_and_is_validated_again() -> None:
    import pickle

    ctx = TenantContext(uuid.uuid4(), uuid.uuid4())
    assert pickle.loads(pickle.dumps(ctx)) == ctx  # noqa: S301 - our own bytes
    forged = pickle.dumps(ctx).replace(ctx.org_id.encode(), b"1'; DROP TABLE x; --" + b" " * 16)
    with pytest.raises(InvalidTenantContext):
        pickle.loads(forged)  # noqa: S301 - the point of the test
