"""tenantkit's schema and binding on the Citus cluster (issue 11 points 2, 4, 5;
issue 10 point 5's Citus part): the policy functions answer on the workers as on
the coordinator, the set_local binding reaches the shards, signed binding holds
there, and policies survive a rebalance onto a new worker.

`public.notes` (tests/sql/notes_citus.sql) is distributed by org over the workers;
every count below runs on the shards.
"""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import tenantkit
from tenantkit import tenant_context
from tenantkit.sqlfiles import render_sql
from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.testing.citus import CitusCluster
from tests.conftest import NOTES_PER_ORG

COUNT = sa.text("SELECT count(*) FROM public.notes")
ORGS_ON_SHARDS = sa.text("SELECT DISTINCT org_id::text FROM public.notes")
Su = psycopg.Connection[tuple[object, ...]]


def on_workers(db: TestDatabase, cluster: CitusCluster, sql: str) -> list[object]:
    with psycopg.connect(cluster.coordinator.conninfo(db.name), autocommit=True) as conn:
        rows = conn.execute("SELECT result FROM run_command_on_workers(%s)", (sql,)).fetchall()
    return [r for (r,) in rows]


def test_tenantkit_tables_stay_on_the_coordinator_and_mirrors_are_reference_tables(
    tenantkit_db: TestDatabase, superuser: Su
) -> None:
    kinds = {
        str(name): str(kind)
        for name, kind in superuser.execute(
            "SELECT logicalrelid::text, partmethod::text FROM pg_dist_partition "
            "WHERE logicalrelid::text LIKE 'tenantkit.%'"
        ).fetchall()
    }
    assert kinds["tenantkit._citus_memberships"] == "n"  # a reference table
    assert "tenantkit.memberships" not in kinds  # its triggers and policies stay as they are
    # No privilege for anyone but the owner on a mirror (binding_keys' pads among them).
    grants = superuser.execute(
        "SELECT count(*) FROM information_schema.role_table_grants "
        "WHERE table_schema = 'tenantkit' AND starts_with(table_name, '_citus_') "
        "AND grantee <> %s",
        (tenantkit_db.owner,),
    ).fetchone()
    assert grants == (0,)


def test_the_app_role_cannot_read_a_mirror(app_engine: sa.Engine, notes: TwoOrgs) -> None:
    a = notes.a
    with (
        tenant_context(a.context(a.owner_id)),
        app_engine.connect() as conn,
        pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
    ):
        conn.execute(sa.text("SELECT * FROM tenantkit._citus_binding_keys"))


def test_workers_see_the_coordinators_binding(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    for org in (notes.a, notes.b):
        with tenant_context(org.context(org.member_id)), app_sessions() as session:
            assert session.execute(COUNT).scalar() == NOTES_PER_ORG
            assert session.execute(ORGS_ON_SHARDS).scalars().all() == [org.org_id]
            on_coordinator = session.execute(sa.text("SELECT tenantkit.current_org_id()::text"))
            assert on_coordinator.scalar() == org.org_id


async def test_the_async_engine_binds_the_shards_too(
    tenantkit_db: TestDatabase, notes: TwoOrgs
) -> None:
    engine = tenantkit.create_async_engine(tenantkit_db.url("app"), binding="set_local")
    try:
        for org in (notes.a, notes.b):
            with tenant_context(org.context(org.member_id)):
                async with engine.connect() as conn:
                    assert (await conn.execute(COUNT)).scalar() == NOTES_PER_ORG
                    orgs = (await conn.execute(ORGS_ON_SHARDS)).scalars().all()
                    assert orgs == [org.org_id]
    finally:
        await engine.dispose()


def test_no_context_sees_nothing_on_any_shard(
    app_sessions: sessionmaker[Session], notes: TwoOrgs
) -> None:
    with app_sessions() as session:
        assert session.execute(COUNT).scalar() == 0


def test_the_default_binding_never_reaches_a_worker(
    config_engine: sa.Engine, notes: TwoOrgs
) -> None:
    # set_config() is not propagated: the coordinator knows the member, the shards
    # bind nothing, and every distributed read is empty (fail closed).
    a = notes.a
    with tenant_context(a.context(a.member_id)), config_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT tenantkit.current_org_id()::text")).scalar() == (
            a.org_id
        )
        assert conn.execute(COUNT).scalar() == 0


def test_a_session_level_set_binds_nothing_on_the_shards(
    app_engine: sa.Engine, notes: TwoOrgs
) -> None:
    a = notes.a
    with app_engine.connect() as conn:
        conn.execute(sa.text(f"SET tenantkit.user_id = '{a.member_id}'"))
        conn.execute(sa.text(f"SET tenantkit.org_id = '{a.org_id}'"))
        assert conn.execute(COUNT).scalar() == 0
        conn.rollback()


def test_writes_land_in_the_bound_org_only(
    app_sessions: sessionmaker[Session], notes: TwoOrgs, superuser: Su
) -> None:
    a, b = notes.a, notes.b
    with (
        tenant_context(a.context(a.member_id)),
        app_sessions() as session,
        pytest.raises(sa.exc.ProgrammingError, match="row-level security"),
    ):
        session.execute(
            sa.text("INSERT INTO public.notes (org_id, body) VALUES (:b, 'planted')"),
            {"b": b.org_id},
        )
    planted = superuser.execute("SELECT count(*) FROM public.notes WHERE body = 'planted'")
    assert planted.fetchone() == (0,)


def test_a_deleted_org_binds_nothing_on_any_shard(
    app_sessions: sessionmaker[Session], service_engine: sa.Engine, fresh_orgs: TwoOrgs
) -> None:
    a = fresh_orgs.a
    with tenant_context(a.context(a.owner_id)):
        with app_sessions() as session:
            assert session.execute(COUNT).scalar() == NOTES_PER_ORG
        with service_engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM tenantkit.orgs WHERE org_id = :o"), {"o": a.org_id})
        with app_sessions() as session:
            # No foreign key reaches a distributed table: the notes stay, unreadable.
            assert session.execute(COUNT).scalar() == 0


def test_a_role_change_through_the_service_is_on_every_node_next_transaction(
    app_sessions: sessionmaker[Session],
    service_engine: sa.Engine,
    fresh_orgs: TwoOrgs,
    tenantkit_db: TestDatabase,
    citus_cluster: CitusCluster,
) -> None:
    from tenantkit.orgs import Management

    a = fresh_orgs.a
    with Session(service_engine) as session, session.begin():
        Management(session).members.change_role(a.org_id, a.admin_id, "Member")
    mirrored = on_workers(
        tenantkit_db,
        citus_cluster,
        "SELECT role FROM tenantkit._citus_memberships "
        f"WHERE org_id = '{a.org_id}' AND user_id = '{a.admin_id}'",
    )
    assert mirrored == ["Member"] * len(citus_cluster.workers)
    with Session(service_engine) as session, session.begin():
        Management(session).members.remove(a.org_id, a.admin_id)
    with tenant_context(a.context(a.admin_id)), app_sessions() as session:
        assert session.execute(COUNT).scalar() == 0


# --- signed binding on the workers ------------------------------------------------------

FORGE = (
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true)"
)


@pytest.fixture
def signing(owner_engine: sa.Engine, binding_key: object) -> object:
    if binding_key is None:
        pytest.skip("this run binds unsigned (TENANTKIT_TEST_UNSIGNED=1)")
    return binding_key


def set_signing(owner_engine: sa.Engine, on: bool) -> None:
    with owner_engine.begin() as conn:
        conn.execute(sa.text("UPDATE tenantkit.settings SET signed_binding = :on"), {"on": on})


def forged_count(app_engine: sa.Engine, orgs: TwoOrgs) -> int:
    # A member of A, inside its own bound transaction, claims B's owner (SET LOCAL
    # reaches the shards as the binding does).
    a, b = orgs.a, orgs.b
    with tenant_context(a.context(a.member_id)), app_engine.connect() as conn:
        conn.execute(sa.text(f"SET LOCAL tenantkit.user_id = '{b.owner_id}'"))
        conn.execute(sa.text(f"SET LOCAL tenantkit.org_id = '{b.org_id}'"))
        return int(conn.execute(COUNT).scalar_one())


def test_forged_ids_get_no_rows_on_the_shards(
    app_engine: sa.Engine, notes: TwoOrgs, owner_engine: sa.Engine, signing: object
) -> None:
    assert forged_count(app_engine, notes) == 0
    set_signing(owner_engine, False)
    try:
        # Exposed: with signing off the same forgery reads B's notes on the workers.
        assert forged_count(app_engine, notes) == NOTES_PER_ORG
    finally:
        set_signing(owner_engine, True)
    assert forged_count(app_engine, notes) == 0


def _signature_of(app_engine: sa.Engine, orgs: TwoOrgs) -> str:
    a = orgs.a
    with tenant_context(a.context(a.owner_id)), app_engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT current_setting('tenantkit.signature')")).scalar())


def _replay(conninfo: str, orgs: TwoOrgs, signature: str, *, nested: bool = False) -> int:
    a = orgs.a
    with psycopg.connect(conninfo) as conn:
        if nested:
            conn.execute("SET LOCAL citus.allow_nested_distributed_execution = on")
        conn.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        conn.execute(f"SET LOCAL tenantkit.user_id = '{a.owner_id}'")
        conn.execute(f"SET LOCAL tenantkit.org_id = '{a.org_id}'")
        conn.execute(f"SET LOCAL tenantkit.signature = '{signature}'")
        conn.execute(
            "SELECT set_config('tenantkit.bound', "
            "EXTRACT(epoch FROM now())::numeric::text, true)"
        )
        return int(conn.execute("SELECT count(*) FROM public.notes").fetchone()[0])  # type: ignore[index]


def test_a_signature_replayed_by_another_session_gets_no_rows(
    app_engine: sa.Engine, notes: TwoOrgs, tenantkit_db: TestDatabase, signing: object
) -> None:
    signature = _signature_of(app_engine, notes)
    gpid = int(signature.split(":")[2])
    assert gpid > 10**10  # Citus's global pid: node id x 10^10 + pid
    assert _replay(tenantkit_db.conninfo("app"), notes, signature) == 0
    # A session claiming the victim's global pid by its application_name is
    # refused at login by the coordinator's guard (the next test shows why).
    fake = tenantkit_db.conninfo("app") + f" application_name='citus_internal gpid={gpid}'"
    with pytest.raises(psycopg.OperationalError, match="may not claim a Citus global pid"):
        _replay(fake, notes, signature)


def test_a_claimed_gpid_replays_unless_the_coordinator_refuses_the_claim(
    app_engine: sa.Engine, notes: TwoOrgs, tenantkit_db: TestDatabase, signing: object
) -> None:
    """Residual risk, and its fix: sql/citus/refuse_claimed_gpid.sql (a login trigger)."""
    signature = _signature_of(app_engine, notes)
    gpid = int(signature.split(":")[2])
    fake = tenantkit_db.conninfo("app") + f" application_name='citus_internal gpid={gpid}'"
    guard = render_sql("citus/refuse_claimed_gpid.sql", tenantkit_db.roles)
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as su:
        su.execute("DROP EVENT TRIGGER tenantkit_refuse_claimed_gpid")
    try:
        # Exposed: with nested execution on (any role may set it) the claimed gpid
        # is what the workers see, and the replayed signature verifies there.
        assert _replay(fake, notes, signature, nested=True) == NOTES_PER_ORG
    finally:
        with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as su:
            su.execute(guard)
    # Protected (the fixtures install the guard, as a deployment does).
    with pytest.raises(psycopg.OperationalError, match="may not claim a Citus global pid"):
        _replay(fake, notes, signature, nested=True)


# --- rebalance: last, it adds a worker to the session's cluster ------------------------


def test_policies_hold_on_shards_moved_to_a_new_worker(
    citus_cluster: CitusCluster,
    tenantkit_db: TestDatabase,
    app_sessions: sessionmaker[Session],
    notes: TwoOrgs,
) -> None:
    new = citus_cluster.add_worker()
    with psycopg.connect(
        citus_cluster.coordinator.conninfo(tenantkit_db.name), autocommit=True
    ) as conn:
        conn.execute("SELECT citus_rebalance_start()")
        deadline = time.monotonic() + 120
        while True:
            state = conn.execute("SELECT state FROM citus_rebalance_status()").fetchone()
            if state is None or state[0] in ("finished", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, "rebalance did not finish in 120 s"
            time.sleep(0.5)
        assert state is None or state[0] == "finished"
        moved = conn.execute(
            "SELECT count(*) FROM citus_shards WHERE table_name = 'public.notes'::regclass "
            "AND nodeport = %s",
            (new.port,),
        ).fetchone()
        mirrors = conn.execute(
            "SELECT count(*) FROM citus_shards WHERE table_name = "
            "'tenantkit._citus_memberships'::regclass AND nodeport = %s",
            (new.port,),
        ).fetchone()
    assert moved is not None and moved[0] > 0
    assert mirrors == (1,)  # the reference tables are copied to the new node
    for org in (notes.a, notes.b):
        with tenant_context(org.context(org.member_id)), app_sessions() as session:
            assert session.execute(COUNT).scalar() == NOTES_PER_ORG
            assert session.execute(ORGS_ON_SHARDS).scalars().all() == [org.org_id]
    with app_sessions() as session:
        assert session.execute(COUNT).scalar() == 0
