"""One reader of the bound org's invites (0011): `current_org_invites()` carries how
sending went, so the delivery columns have no second function deciding who reads them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import TenantContext, tenant_context
from tenantkit.orgs import Management
from tenantkit.testing import TwoOrgs

Superuser = psycopg.Connection[tuple[object, ...]]
READ = ("SELECT email, delivery_state, delivery_attempts, delivery_error "
        "FROM tenantkit.current_org_invites()")


def test_the_near_copy_is_gone(superuser: Superuser) -> None:
    found = superuser.execute(
        "SELECT to_regprocedure('tenantkit.current_org_invite_deliveries()')").fetchone()
    assert found == (None,)


def test_deliveries_come_with_the_invites_for_inviters_only(
    app_engine: Engine, make_seed: Callable[[], TwoOrgs]
) -> None:
    orgs = make_seed()
    a, b = orgs.a, orgs.b
    email = f"bo.{uuid.uuid4().hex[:6]}@example.com"
    with tenant_context(TenantContext(a.admin_id, a.org_id)), app_engine.begin() as conn:
        m = Management(conn)
        created = m.invites.create(a.org_id, email=email, role="Member")
        assert created.invite.delivery.delivery_state == "pending"
    with tenant_context(TenantContext(a.admin_id, a.org_id)), app_engine.begin() as conn:
        Management(conn).invites.record_delivery(created.invite.invite_id, sent=False,
                                                 error="421 try later")
    with tenant_context(TenantContext(a.admin_id, a.org_id)), app_engine.begin() as conn:
        assert conn.execute(sa.text(READ)).all() == [(email, "failed", 1, "421 try later")]
        [listed] = Management(conn).invites.list(a.org_id).items
        assert listed.delivery.delivery_error == "421 try later"
    # a Member may not invite: no invites, no deliveries; B's Owner sees B only
    for ctx in (TenantContext(a.member_id, a.org_id), TenantContext(b.owner_id, b.org_id),
                TenantContext(b.owner_id, a.org_id)):
        with tenant_context(ctx), app_engine.begin() as conn:
            assert conn.execute(sa.text(READ)).all() == []
