"""The outbox: one event per committed change, none for a rolled-back one, ids in commit order.

Changes are made the ways tenantkit makes them: the service role through the
management service, an end user on the app role through row-level security,
and SECURITY DEFINER functions (self-service org creation, accepting an
invite). Events are read back as a superuser (the oracle).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import TenantContext, tenant_context
from tenantkit.errors import LimitReached
from tenantkit.events import EVENT_TYPES, read_events
from tenantkit.orgs import Actor, Management
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.events.conftest import newest_event_id


def events_after(db: TestDatabase, after: int) -> list[tuple[str, str | None, dict[str, Any]]]:
    with psycopg.connect(db.conninfo("admin")) as conn:
        rows = conn.execute(
            "SELECT event_type, org_id::text, payload FROM tenantkit.events "
            "WHERE event_id > %s ORDER BY event_id", (after,)).fetchall()
    return [(str(t), o if o is None else str(o), dict(p)) for t, o, p in rows]


def placeholders(db: TestDatabase) -> int:
    with psycopg.connect(db.conninfo("admin")) as conn:
        row = conn.execute("SELECT count(*) FROM tenantkit.events WHERE event_id <= 0").fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Change:
    """One change and the single event it must write: (type, org, payload fields)."""

    name: str
    event_type: str
    run: Callable[[Management, TwoOrgs, dict[str, Any]], dict[str, Any]]
    setup: Callable[[Management, TwoOrgs], dict[str, Any]] = lambda _m, _o: {}

    def __str__(self) -> str:
        return self.name


def _new_user(m: Management, o: TwoOrgs) -> dict[str, Any]:
    return {"user_id": m.users.create(f"u{uuid.uuid4().hex[:8]}@example.com",
                                      autojoin=False).user_id}


def _org_key(m: Management, o: TwoOrgs) -> dict[str, Any]:
    return {"api_key_id": m.api_keys.create(org_id=o.a.org_id).api_key.api_key_id}


CHANGES = [
    Change("create org", "org.created",
           lambda m, o, s: {"org_id": m.orgs.create("Acme Events").org_id, "name": "Acme Events"}),
    Change("update org", "org.updated",
           lambda m, o, s: {"org_id": m.orgs.update(o.a.org_id, metadata={"plan": "pro"}).org_id,
                            "metadata": {"plan": "pro"}}),
    Change("delete org", "org.deleted",
           lambda m, o, s: (m.orgs.delete(o.b.org_id), {"org_id": o.b.org_id})[1]),
    Change("create user", "user.created",
           lambda m, o, s: {"user_id": m.users.create(s["email"], autojoin=False).user_id,
                            "email": s["email"]},
           setup=lambda _m, _o: {"email": f"new-{uuid.uuid4().hex[:8]}@example.org"}),
    Change("update user", "user.updated",
           lambda m, o, s: {"user_id": m.users.update(o.a.member_id, first_name="Zed").user_id,
                            "first_name": "Zed"}),
    Change("delete user", "user.deleted",
           lambda m, o, s: (m.users.delete(s["user_id"]), {"user_id": s["user_id"]})[1],
           setup=_new_user),
    Change("add member", "user.added_to_org",
           lambda m, o, s: (m.members.add(o.a.org_id, s["user_id"], "Admin"),
                            {"org_id": o.a.org_id, "user_id": s["user_id"], "role": "Admin"})[1],
           setup=_new_user),
    Change("remove member", "user.removed_from_org",
           lambda m, o, s: (m.members.remove(o.a.org_id, o.a.member_id),
                            {"org_id": o.a.org_id, "removed_user_id": o.a.member_id})[1]),
    Change("change role", "user.role_changed_within_org",
           lambda m, o, s: (m.members.change_role(o.a.org_id, o.a.member_id, "Admin"),
                            {"org_id": o.a.org_id, "user_id": o.a.member_id,
                             "old_role": "Member", "new_role": "Admin"})[1]),
    Change("invite", "user.invited_to_org",
           lambda m, o, s: (m.invites.create(o.a.org_id, email="bob@example.com", role="Member"),
                            {"org_id": o.a.org_id, "invitee_email": "bob@example.com",
                             "role_in_org": "Member"})[1]),
    Change("create org key", "org.api_key_created",
           lambda m, o, s: {"org_id": o.a.org_id, "api_key_id": m.api_keys.create(
               org_id=o.a.org_id, name="ci").api_key.api_key_id, "display_name": "ci"}),
    Change("archive org key", "org.api_key_archived",
           lambda m, o, s: (m.api_keys.archive(s["api_key_id"]),
                            {"org_id": o.a.org_id, "api_key_id": s["api_key_id"]})[1],
           setup=_org_key),
]


def test_the_cases_cover_every_event_type() -> None:
    assert sorted(c.event_type for c in CHANGES) == sorted(EVENT_TYPES)


def test_sql_and_python_agree_on_the_event_types(events_db: TestDatabase) -> None:
    with psycopg.connect(events_db.conninfo("admin")) as conn:
        row = conn.execute("SELECT tenantkit.event_types()").fetchone()
    assert row is not None and tuple(row[0]) == EVENT_TYPES


@pytest.mark.parametrize("change", CHANGES, ids=str)
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_one_event_per_committed_change_none_per_rollback(
    change: Change, outcome: str, ev_service: Engine, ev_orgs: TwoOrgs, events_db: TestDatabase
) -> None:
    with ev_service.begin() as conn:
        state = change.setup(Management(conn, Actor.service()), ev_orgs)
    before = newest_event_id(events_db)
    conn = ev_service.connect()
    transaction = conn.begin()
    expected = change.run(Management(conn, Actor.service()), ev_orgs, state)
    if outcome == "commit":
        transaction.commit()
    else:
        transaction.rollback()
    conn.close()
    written = events_after(events_db, before)
    if outcome == "rollback":
        assert written == []
        return
    assert [(t, o) for t, o, _ in written] == [(change.event_type, written[0][1])]
    _, org_id, payload = written[0]
    assert {k: payload[k] for k in expected} == expected
    if change.event_type != "user.created" and change.event_type not in ("user.updated",
                                                                        "user.deleted"):
        assert org_id == expected["org_id"]
    assert placeholders(events_db) == 0


def test_end_user_changes_through_rls_and_a_definer_function_write_events(
    ev_app: Engine, ev_service: Engine, ev_orgs: TwoOrgs, events_db: TestDatabase
) -> None:
    a = ev_orgs.a
    before = newest_event_id(events_db)
    with tenant_context(TenantContext(a.admin_id, a.org_id)), ev_app.begin() as conn:
        m = Management(conn)
        created = m.invites.create(a.org_id, email="carol@example.com", role="Member")
        m.members.change_role(a.org_id, a.member_id, "Admin")
    with ev_service.begin() as conn:
        carol = Management(conn, Actor.service()).users.create("carol@example.com",
                                                               autojoin=False)
    with tenant_context(TenantContext(carol.user_id, a.org_id)), ev_app.begin() as conn:
        Management(conn).invites.accept(created.token)  # accept_invite (SECURITY DEFINER)
    written = [(t, o) for t, o, _ in events_after(events_db, before)]
    assert written == [
        ("user.invited_to_org", a.org_id),
        ("user.role_changed_within_org", a.org_id),
        ("user.created", None),
        ("user.added_to_org", a.org_id),
    ]


def test_a_refused_change_writes_nothing_and_a_rolled_back_savepoint_loses_its_event(
    ev_service: Engine, ev_orgs: TwoOrgs, events_db: TestDatabase
) -> None:
    with ev_service.begin() as conn:
        m = Management(conn, Actor.service())
        full = m.orgs.create("Full", max_users=1)
        first = m.users.create("first@full.example", autojoin=False)
        second = m.users.create("second@full.example", autojoin=False)
        m.members.add(full.org_id, first.user_id, "Owner")
    before = newest_event_id(events_db)
    with ev_service.begin() as conn:
        m = Management(conn, Actor.service())
        with pytest.raises(LimitReached), conn.begin_nested():
            m.members.add(full.org_id, second.user_id, "Member")
        m.orgs.update(full.org_id, name="Still full")
    assert [t for t, _, _ in events_after(events_db, before)] == ["org.updated"]


def test_no_op_updates_and_bookkeeping_write_nothing(
    ev_service: Engine, ev_orgs: TwoOrgs, events_db: TestDatabase
) -> None:
    with ev_service.begin() as conn:
        secret = Management(conn, Actor.service()).api_keys.create(org_id=ev_orgs.a.org_id).secret
    before = newest_event_id(events_db)
    with ev_service.begin() as conn:
        m = Management(conn, Actor.service())
        org = m.orgs.fetch(ev_orgs.a.org_id)
        m.orgs.update(org.org_id, name=org.name)            # same value
        m.api_keys.validate(secret, kind="org")             # stamps last_used_at
        conn.execute(sa.text("UPDATE tenantkit.users SET last_active_at = now() "
                             "WHERE user_id = :u"), {"u": ev_orgs.a.member_id})
        m.members.deactivate(org.org_id, ev_orgs.a.member_id)  # no PropelAuth event
    assert events_after(events_db, before) == []


def test_deleting_an_org_is_one_event_deleting_a_user_removes_them_from_each_org(
    ev_service: Engine, ev_orgs: TwoOrgs, events_db: TestDatabase
) -> None:
    before = newest_event_id(events_db)
    with ev_service.begin() as conn:
        Management(conn, Actor.service()).orgs.delete(ev_orgs.a.org_id)
    assert [(t, o) for t, o, _ in events_after(events_db, before)] == [
        ("org.deleted", ev_orgs.a.org_id)]
    before = newest_event_id(events_db)
    with ev_service.begin() as conn:
        Management(conn, Actor.service()).users.delete(ev_orgs.shared_user_id)
    written = events_after(events_db, before)
    # The shared user was in A (gone now) and B: the deletion, then the cascade's
    # removal from B (foreign-key cascades run after the row's own triggers).
    assert [(t, o) for t, o, _ in written] == [("user.deleted", None),
                                                ("user.removed_from_org", ev_orgs.b.org_id)]
    assert written[1][2]["removed_user_id"] == ev_orgs.shared_user_id


def test_set_constraints_immediate_in_a_rolled_back_savepoint_still_assigns_the_id(
    events_db: TestDatabase, ev_orgs: TwoOrgs
) -> None:
    before = newest_event_id(events_db)
    with psycopg.connect(events_db.conninfo("service")) as conn:
        conn.execute("UPDATE tenantkit.orgs SET name = 'renamed' WHERE org_id = %s",
                     (ev_orgs.a.org_id,))
        conn.execute("SAVEPOINT s")
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # assigns the id inside the savepoint
        conn.execute("ROLLBACK TO SAVEPOINT s")         # ... and undoes that assignment
        conn.commit()
    assert [t for t, _, _ in events_after(events_db, before)] == ["org.updated"]
    assert placeholders(events_db) == 0


# --- commit order ------------------------------------------------------------------------


def _interleave_and_poll(db: TestDatabase, orgs: TwoOrgs) -> tuple[list[int], list[int]]:
    """T1 writes first and commits last; a poller reads `event_id > last_seen` in between.

    Returns (what the poller saw, what is committed).
    """
    start = newest_event_id(db)
    t1 = psycopg.connect(db.conninfo("service"))
    t2 = psycopg.connect(db.conninfo("service"))
    try:
        t1.execute("UPDATE tenantkit.orgs SET name = 'first' WHERE org_id = %s", (orgs.a.org_id,))
        t2.execute("UPDATE tenantkit.orgs SET name = 'second' WHERE org_id = %s", (orgs.b.org_id,))
        t2.commit()
        seen: list[int] = []

        def poll() -> None:
            with psycopg.connect(db.conninfo("service")) as reader:
                rows = reader.execute(
                    "SELECT event_id FROM tenantkit.events WHERE event_id > %s "
                    "ORDER BY event_id", (max(seen, default=start),)).fetchall()
            seen.extend(int(r[0]) for r in rows)

        poll()
        t1.commit()
        poll()
    finally:
        t1.close()
        t2.close()
    with psycopg.connect(db.conninfo("admin")) as conn:
        committed = [int(r[0]) for r in conn.execute(
            "SELECT event_id FROM tenantkit.events WHERE event_id > %s ORDER BY event_id",
            (start,))]
    return seen, committed


def test_a_poller_never_skips_an_event_that_committed_late(
    events_db: TestDatabase, ev_orgs: TwoOrgs
) -> None:
    seen, committed = _interleave_and_poll(events_db, ev_orgs)
    assert len(committed) == 2
    assert seen == committed


@pytest.fixture(scope="module")
def unprotected_db(tenantkit_server: Any, binding_key: Any) -> Iterator[TestDatabase]:
    """A database where the protections are switched off, to show the tests catch it:
    ids come from a plain sequence at insert time, and the app role may read events."""
    from tenantkit import migrate
    from tenantkit.testing import configure_signing, provision_database

    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles)
    configure_signing(db, binding_key)  # a new install signs: with the run's key
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        conn.execute("ALTER TABLE tenantkit.events DISABLE TRIGGER events_commit_order")
        conn.execute("""
            CREATE OR REPLACE FUNCTION tenantkit._emit_event(p_type text, p_org_id uuid,
                                                             p_payload jsonb) RETURNS void
                LANGUAGE sql SET search_path = '' AS $$
                INSERT INTO tenantkit.events (event_id, event_type, org_id, payload)
                VALUES (pg_catalog.nextval('tenantkit.event_id_seq'), p_type, p_org_id, p_payload)
            $$""")
        conn.execute(f'GRANT SELECT ON tenantkit.events TO "{db.roles.app}"')
        conn.execute(f'CREATE POLICY app_select ON tenantkit.events FOR SELECT '
                     f'TO "{db.roles.app}" USING (true)')
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


def test_protection_off_insert_time_ids_make_a_poller_skip_an_event(
    unprotected_db: TestDatabase
) -> None:
    engine = sa.create_engine(unprotected_db.url("service"), poolclass=sa.NullPool)
    with engine.begin() as conn:
        from tenantkit.testing import seed_two_orgs

        orgs = seed_two_orgs(conn)
    engine.dispose()
    seen, committed = _interleave_and_poll(unprotected_db, orgs)
    assert len(committed) == 2
    assert seen == committed[1:]  # T1's smaller id appeared after the poller had moved past it


def test_concurrent_writers_and_a_poller_agree_on_every_event(
    events_db: TestDatabase, ev_service: Engine
) -> None:
    """Writers hold their transactions open for random moments; nothing is skipped."""
    with ev_service.begin() as conn:
        m = Management(conn, Actor.service())
        org_ids = [m.orgs.create(f"busy {i}").org_id for i in range(8)]
    start = newest_event_id(events_db)
    stop = threading.Event()
    polled: list[int] = []

    def poller() -> None:
        with ev_service.connect() as conn:
            while True:
                finished = stop.is_set()
                batch = read_events(conn, after=polled[-1] if polled else start, limit=1000)
                conn.rollback()
                polled.extend(e.event_id for e in batch)
                if finished and not batch:
                    return

    def writer(org_id: str, seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(events_db.conninfo("service")) as conn:
            for i in range(25):
                conn.execute("UPDATE tenantkit.orgs SET metadata = %s::jsonb WHERE org_id = %s",
                             (f'{{"n": {i}}}', org_id))
                time.sleep(rng.random() * 0.004)  # vary who allocates first and commits first
                if rng.random() < 0.2:
                    conn.rollback()
                else:
                    conn.commit()

    reader = threading.Thread(target=poller)
    reader.start()
    writers = [threading.Thread(target=writer, args=(org, i)) for i, org in enumerate(org_ids)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    with psycopg.connect(events_db.conninfo("admin")) as conn:
        committed = [int(r[0]) for r in conn.execute(
            "SELECT event_id FROM tenantkit.events WHERE event_id > %s ORDER BY event_id",
            (start,))]
    assert 100 < len(committed) < 200
    assert polled == committed


# --- who may read and write events ----------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "SELECT count(*) FROM tenantkit.events",
    "INSERT INTO tenantkit.events (event_id, event_type, payload) VALUES (1, 'org.created', '{}')",
    "SELECT tenantkit._emit_event('org.created', NULL, '{}')",
    "SELECT count(*) FROM tenantkit.webhook_endpoints",
    "SELECT count(*) FROM tenantkit.webhook_cursors",
    "SELECT count(*) FROM tenantkit.webhook_dead_letters",
])
def test_end_users_cannot_read_or_write_events_or_endpoints(
    ev_app: Engine, ev_orgs: TwoOrgs, statement: str
) -> None:
    a = ev_orgs.a
    with (tenant_context(TenantContext(a.owner_id, a.org_id)), ev_app.connect() as conn,
          pytest.raises(sa.exc.ProgrammingError, match="permission denied")):
        conn.execute(sa.text(statement))


@pytest.mark.parametrize("statement", [
    "INSERT INTO tenantkit.events (event_id, event_type, payload) VALUES (1, 'org.created', '{}')",
    "UPDATE tenantkit.events SET payload = '{}'",
    "DELETE FROM tenantkit.events",
    "SELECT tenantkit._emit_event('org.created', NULL, '{}')",
    "SELECT tenantkit._event_commit_order()",
    "LOCK TABLE tenantkit.event_commit_order",
])
def test_the_service_role_reads_events_but_cannot_write_them(
    events_db: TestDatabase, statement: str
) -> None:
    with psycopg.connect(events_db.conninfo("service")) as conn:
        assert conn.execute("SELECT count(*) FROM tenantkit.events").fetchone() is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_protection_off_an_end_user_reads_every_orgs_events(unprotected_db: TestDatabase) -> None:
    """The demonstration for the test above: with a grant and a policy, the app role
    reads other orgs' events, which the real schema refuses."""
    with psycopg.connect(unprotected_db.conninfo("app")) as conn:
        row = conn.execute("SELECT count(DISTINCT org_id) FROM tenantkit.events").fetchone()
    assert row is not None and int(row[0]) >= 2


def test_event_functions_are_definer_safe(events_db: TestDatabase) -> None:
    """SECURITY DEFINER functions pin search_path and are not executable by PUBLIC."""
    with psycopg.connect(events_db.conninfo("admin")) as conn:
        rows = conn.execute("""
            SELECT p.proname,
                   EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%%'),
                   EXISTS (SELECT 1 FROM aclexplode(COALESCE(p.proacl,
                                                             acldefault('f', p.proowner))) a
                           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'tenantkit' AND p.prosecdef
              AND p.proname IN ('_event_commit_order', '_org_events', '_user_events',
                                '_membership_events', '_invite_events', '_api_key_events')
        """).fetchall()
    assert len(rows) == 6
    assert all(pinned and not public for _, pinned, public in rows), rows
