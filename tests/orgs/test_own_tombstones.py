"""Deleted org ids are never reused, and end users never choose org ids.

An org's audit trail outlives it (no foreign key). A new org with the same id
would inherit that trail, so deleting an org tombstones its id and every role,
the owner included, is refused that id afterwards (TK011, 409).
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from sqlalchemy import Engine

from tenantkit import Conflict, Forbidden
from tenantkit.testing import TestDatabase, TwoOrgs

from ._attack import app_sql, attempt
from .conftest import ServiceFactory, UserFactory, audit_rows

Superuser = psycopg.Connection[tuple[object, ...]]

RAW_CREATE = "INSERT INTO tenantkit.orgs (org_id, name, url_safe_org_name) VALUES (%s, 'x', '')"


def test_a_deleted_orgs_id_is_refused_to_every_role(
    service: ServiceFactory, as_user: UserFactory, fresh_orgs: TwoOrgs,
    tenantkit_db: TestDatabase, superuser: Superuser,
) -> None:
    a = fresh_orgs.a
    with as_user(a.owner_id, a.org_id) as m:
        m.orgs.delete(a.org_id)
    assert len(audit_rows(superuser, a.org_id, "org.deleted")) == 1
    with pytest.raises(Conflict, match="never reused"), service() as m:
        m.orgs.create("Impostor", org_id=a.org_id)
    for role in ("service", "owner", "admin"):
        with (psycopg.connect(tenantkit_db.conninfo(role)) as conn,  # type: ignore[arg-type]
              pytest.raises(psycopg.Error) as refused):
            conn.execute(RAW_CREATE, (a.org_id,))
        assert refused.value.sqlstate == "TK011", role
    with service() as m:  # a fresh id is fine, and starts with no trail
        fresh = m.orgs.create("Successor")
    assert audit_rows(superuser, fresh.org_id, "org.deleted") == []


def test_an_org_id_never_changes(
    service_engine: Engine, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    a = fresh_orgs.a
    with service_engine.connect() as conn, conn.begin():
        moved = attempt(conn, "UPDATE tenantkit.orgs SET org_id = :new WHERE org_id = :old",
                        {"new": str(uuid.uuid4()), "old": a.org_id})
    assert moved.refusal == ("TK011", "an org's id never changes")


def test_truncate_tombstones_too(tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs) -> None:
    with psycopg.connect(tenantkit_db.conninfo("owner")) as owner:
        owner.execute("TRUNCATE tenantkit.orgs CASCADE")
        row = owner.execute("SELECT count(*) FROM tenantkit.org_tombstones WHERE org_id = %s",
                            (fresh_orgs.b.org_id,)).fetchone()
        assert row == (1,)
        with pytest.raises(psycopg.Error) as refused:
            owner.execute(RAW_CREATE, (fresh_orgs.b.org_id,))
        assert refused.value.sqlstate == "TK011"
        owner.rollback()  # the test database keeps its orgs


def test_a_create_racing_the_delete_of_its_id_is_refused(
    tenantkit_db: TestDatabase, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    org_id = fresh_orgs.a.org_id
    outcome: list[str] = []
    started = threading.Event()
    pids: list[int] = []
    with psycopg.connect(tenantkit_db.conninfo("service")) as deleter:
        deleter.execute("DELETE FROM tenantkit.orgs WHERE org_id = %s", (org_id,))

        def create() -> None:  # blocks on orgs_pkey until the delete commits
            with psycopg.connect(tenantkit_db.conninfo("service")) as creator:
                pids.append(creator.info.backend_pid)
                started.set()
                try:
                    creator.execute(RAW_CREATE, (org_id,))
                    outcome.append("created")
                except psycopg.Error as exc:
                    outcome.append(str(exc.sqlstate))

        racer = threading.Thread(target=create)
        racer.start()
        assert started.wait(10)
        for _ in range(1000):  # until the creator waits for the deleter's lock
            row = superuser.execute("SELECT wait_event_type FROM pg_catalog.pg_stat_activity "
                                    "WHERE pid = %s", (pids[0],)).fetchone()
            if row == ("Lock",):
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("the create never waited for the delete")
        deleter.commit()
        racer.join(10)
    assert outcome == ["TK011"]


def test_end_users_never_choose_org_ids(
    app_engine: Engine, as_user: UserFactory, fresh_orgs: TwoOrgs, superuser: Superuser,
) -> None:
    a, b = fresh_orgs.a, fresh_orgs.b
    with app_sql(app_engine, a.member_id, a.org_id) as conn:
        # The old signature (with an id) is gone: no way to ask "is this id taken?".
        for org_id in (b.org_id, str(uuid.uuid4())):
            old = attempt(conn, "SELECT tenantkit.create_org_as_owner(CAST(:o AS uuid), 'x', "
                                "'{}')", {"o": org_id})
            assert old.sqlstate == "42883"
        made = attempt(conn, "SELECT org_id::text FROM tenantkit.create_org_as_owner('Mine')")
        assert made.ok and made.rows[0][0] not in (a.org_id, b.org_id)
    with pytest.raises(Forbidden, match="org_id"), as_user(a.member_id, a.org_id) as m:
        m.orgs.create("Mine", org_id=b.org_id)
    with as_user(a.member_id, a.org_id) as m:
        mine = m.orgs.create("Mine")
    rows = superuser.execute("SELECT action FROM tenantkit.audit_log WHERE org_id = %s",
                             (mine.org_id,)).fetchall()
    assert rows == [("org.created",)]  # its own trail only
