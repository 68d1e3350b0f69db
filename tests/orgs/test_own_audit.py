"""Audit rows from end users, and the counters they must not read.

An end user's audit row always says actor_kind 'user' and the bound user: it
cannot claim the service or an API key. The app role has no privilege on
tenantkit's sequences, and never sees audit_id: both count every org's
activity.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import Forbidden, TenantContext, tenant_context
from tenantkit.orgs import Actor, Management, PageRequest
from tenantkit.testing import TestDatabase, TwoOrgs

from ._attack import app_sql, app_sql_without, attempt, definition
from .conftest import ServiceFactory, UserFactory, audit_rows

Superuser = psycopg.Connection[tuple[object, ...]]

RAW_AUDIT = ("INSERT INTO tenantkit.audit_log (org_id, actor_kind, actor_user_id, action) "
             "VALUES (:org, :kind, :actor, 'forged.entry')")


def test_an_end_users_audit_row_is_always_theirs(
    app_engine: Engine, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    with app_sql(app_engine, a.owner_id, a.org_id) as conn:
        forged = {
            "service": attempt(conn, RAW_AUDIT, {"org": a.org_id, "kind": "service",
                                                 "actor": None}),
            "api key": attempt(conn, RAW_AUDIT, {"org": a.org_id, "kind": "api_key",
                                                 "actor": a.owner_id}),
            "another user": attempt(conn, RAW_AUDIT, {"org": a.org_id, "kind": "user",
                                                      "actor": a.member_id}),
            "another org": attempt(conn, RAW_AUDIT, {"org": b.org_id, "kind": "user",
                                                     "actor": a.owner_id}),
            "no org": attempt(conn, RAW_AUDIT, {"org": None, "kind": "user",
                                                "actor": a.owner_id}),
        }
        mine = attempt(conn, RAW_AUDIT, {"org": a.org_id, "kind": "user", "actor": a.owner_id})
    assert {why: o.sqlstate for why, o in forged.items()} == dict.fromkeys(forged, "42501")
    assert mine.ok  # (and the identity column needed no sequence privilege)
    assert audit_rows(superuser, a.org_id, "forged.entry") == []  # all rolled back


@pytest.mark.parametrize("actor", [Actor.service(), Actor.api_key(
    "00000000-0000-4000-8000-000000000001"), None])
def test_management_cannot_claim_another_actor_on_an_end_users_session(
    app_engine: Engine, fresh_orgs: TwoOrgs, superuser: Superuser, actor: Actor | None,
) -> None:
    a = fresh_orgs.a
    claimed = actor or Actor.end_user(a.admin_id)  # None: another member of the org
    with (tenant_context(TenantContext(a.owner_id, a.org_id)), app_engine.connect() as conn,
          pytest.raises(Forbidden), conn.begin()):
        Management(conn, claimed).feature_flags.set(a.org_id, "forged")
    # The change and its audit row are one statement: neither happened.
    assert audit_rows(superuser, a.org_id, "feature_flag.set") == []
    row = superuser.execute("SELECT count(*) FROM tenantkit.feature_flags WHERE org_id = %s",
                            (a.org_id,)).fetchone()
    assert row == (0,)


def test_definer_functions_write_end_user_rows(
    service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    with service() as m:
        token = m.invites.create(a.org_id, email=fresh_orgs.emails[b.member_id],
                                 role="Member").token
    with as_user(b.member_id, b.org_id) as m:
        m.invites.accept(token)
        created = m.orgs.create("Audited self-service")
    [(kind, actor, *_)] = audit_rows(superuser, a.org_id, "invite.accepted")
    assert (kind, actor) == ("user", b.member_id)
    [(kind, actor, *_)] = audit_rows(superuser, created.org_id, "org.created")
    assert (kind, actor) == ("user", b.member_id)


def test_end_users_never_see_audit_id(
    app_engine: Engine, as_user: UserFactory, service: ServiceFactory, fresh_orgs: TwoOrgs,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    for i in range(5):
        with as_user(a.admin_id, a.org_id) as m:
            m.feature_flags.set(a.org_id, f"f{i}")
        with service() as m:  # B's activity in between: gaps a counter would show
            m.feature_flags.set(b.org_id, f"g{i}")
    with app_sql(app_engine, a.admin_id, a.org_id) as conn:
        for sql in ("SELECT audit_id FROM tenantkit.audit_log",
                    "SELECT count(*) FROM tenantkit.audit_log WHERE audit_id > 0",
                    "SELECT action FROM tenantkit.audit_log ORDER BY audit_id LIMIT 1",
                    "SELECT * FROM tenantkit.audit_log"):
            assert attempt(conn, sql).refusal == (
                "42501", "permission denied for table audit_log"), sql
        readable = attempt(conn, "SELECT count(*) FROM tenantkit.audit_log")
    assert readable.rows == [(5,)]  # A's five flags
    with service() as m:
        expected = [(e.action, e.target_id) for e in m.audit_log.list(
            a.org_id, page=PageRequest(100, 0)).items]
    with as_user(a.admin_id, a.org_id) as m:
        whole = m.audit_log.list(a.org_id, page=PageRequest(100, 0))
        pages = [m.audit_log.list(a.org_id, page=PageRequest(2, n)) for n in range(4)]
        flags = m.audit_log.list(a.org_id, action="feature_flag.set")
        assert m.audit_log.list(b.org_id).items == []  # another org: nothing
    assert {e.audit_id for e in whole.items} == {None}
    assert [(e.action, e.target_id) for e in whole.items] == expected  # newest first
    assert [(e.action, e.target_id) for p in pages for e in p.items] == expected
    assert (whole.total, pages[0].total, pages[3].total, flags.total) == (5, 5, 5, 5)
    assert [len(p.items) for p in pages] == [2, 2, 1, 0]
    assert pages[1].has_more and not pages[2].has_more
    with pytest.raises(Forbidden), as_user(a.member_id, a.org_id) as m:
        m.audit_log.list(a.org_id)


def test_sequences_are_out_of_the_app_roles_reach(
    app_engine: Engine, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    a = fresh_orgs.a
    names = [str(r[0]) for r in superuser.execute(
        "SELECT format('%I.%I', schemaname, sequencename) FROM pg_catalog.pg_sequences "
        "WHERE schemaname = 'tenantkit'").fetchall()]
    assert "tenantkit.audit_log_audit_id_seq" in names
    with app_sql(app_engine, a.owner_id, a.org_id) as conn:
        for name in names:
            for sql in (f"SELECT nextval('{name}')", f"SELECT currval('{name}')",
                        f"SELECT setval('{name}', 1)", f"SELECT last_value FROM {name}",
                        f"SELECT * FROM {name}"):
                assert attempt(conn, sql).sqlstate == "42501", sql
            # refused, or NULL where the server answers that instead of an error
            last = attempt(conn, f"SELECT pg_catalog.pg_sequence_last_value('{name}')")
            assert last.sqlstate == "42501" or last.rows == [(None,)]
        listed = attempt(conn, "SELECT last_value FROM pg_catalog.pg_sequences "
                               "WHERE schemaname = 'tenantkit'")
        assert listed.ok and {r[0] for r in listed.rows} <= {None}
        assert attempt(conn, RAW_AUDIT, {"org": a.org_id, "kind": "user",
                                         "actor": a.owner_id}).ok


# --- the protections switched off, to show they are what stops the attacks ---------


def test_with_the_old_policy_and_grants_an_end_user_forges_and_counts(
    tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs,
) -> None:
    a = fresh_orgs.a
    service_row = {"org": a.org_id, "kind": "service", "actor": a.owner_id}
    old_policy = [
        "DROP POLICY member_insert ON tenantkit.audit_log",
        definition("0001_policies.sql", "CREATE POLICY member_insert ON tenantkit.audit_log"),
    ]
    with app_sql_without(tenantkit_db, a.owner_id, a.org_id, *old_policy) as conn:
        assert attempt(conn, RAW_AUDIT, service_row).ok  # claims to be the service
    old_grants = ["GRANT USAGE ON ALL SEQUENCES IN SCHEMA tenantkit TO @app_role@",
                  "GRANT SELECT ON tenantkit.audit_log TO @app_role@"]
    with app_sql_without(tenantkit_db, a.owner_id, a.org_id, *old_grants) as conn:
        counter = attempt(conn, "SELECT nextval('tenantkit.audit_log_audit_id_seq')")
        attempt(conn, RAW_AUDIT, {"org": a.org_id, "kind": "user", "actor": a.owner_id})
        ids = attempt(conn, "SELECT audit_id FROM tenantkit.audit_log")
    assert counter.ok and ids.ok and ids.rows
