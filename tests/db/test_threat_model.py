"""The threat model, measured: what row-level security does and does not hide.

Each test acts as the app role, bound to org A with tenantkit's own bind
statement, on a tenant table with tenantkit's generated policies and rows in
two orgs, and asserts what A can and cannot learn about, or do to, org B. The
README's threat model quotes these results.

Most tests use the run's server. Two-phase commit and pg_stat_statements need
server settings (max_prepared_transactions, shared_preload_libraries) that
only a restart changes, so those tests start a throwaway server of their own
from the same binaries.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import URL

import tenantkit
from tenantkit import migrate, rls
from tenantkit.db.signing import BindingKey
from tenantkit.doctor import run_checks
from tenantkit.testing import (
    RunningServer,
    SeededOrg,
    ServerChoice,
    TestDatabase,
    TwoOrgs,
    configure_signing,
    provision_database,
    seed_two_orgs,
)
from tests.doctor.helpers import bind

TABLE = "public.threat_secrets"
READ_ONLY_TABLE = "public.threat_readonly"
ROWS_PER_ORG = 200
ONLY_IN_B = "only-b@example.com"
NOWHERE = "nowhere@example.com"

Conn = psycopg.Connection[Any]


# --- setup -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenants:
    """The two orgs and the database the threat tables live in."""

    db: TestDatabase
    a: SeededOrg
    b: SeededOrg

    def app(self, org: SeededOrg | None = None) -> Conn:
        """A new app-role connection; its first transaction bound to `org` (if any)."""
        conn = psycopg.connect(self.db.conninfo("app"))
        if org is not None:
            bind(conn, org.org_id, org.owner_id)
        return conn

    def admin(self) -> Conn:
        return psycopg.connect(self.db.conninfo("admin"), autocommit=True)

    def analyze(self) -> None:
        """ANALYZE the threat tables from a session with no pending statistics of its own.

        (ANALYZE sets n_live_tup; an inserting session's own counts, flushed
        after it, would be added on top.)
        """
        with self.admin() as conn:
            conn.execute(f"ANALYZE {TABLE}, {READ_ONLY_TABLE}")

    def count(self, where: str = "true", *params: object) -> int:
        """Rows of the threat table matching `where`, counted outside RLS."""
        with self.admin() as conn:
            row = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE {where}", params).fetchone()
        assert row is not None
        return int(row[0])


def _make_tenant_table(conn: Conn, table: str, spec: rls.TenancySpec, role: str) -> None:
    # The generated statements, exactly as `tenantkit policies` prints them.
    schema, name = table.split(".")
    conn.execute(
        f"CREATE TABLE {table} (org_id uuid NOT NULL REFERENCES tenantkit.orgs ON DELETE CASCADE, "
        "id bigint GENERATED ALWAYS AS IDENTITY, email text NOT NULL, PRIMARY KEY (org_id, id))"
    )
    target = rls.TableName(name, schema)
    for statement in rls.enable_statements(target, role=role, **spec.table_settings()):
        conn.execute(statement)
    for policy in spec.command_policies():
        conn.execute(rls.create_policy(target, policy, [role]))


def create_threat_tables(db: TestDatabase, orgs: TwoOrgs) -> Tenants:
    """The threat tables with ROWS_PER_ORG rows per org (B has one more: ONLY_IN_B)."""
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        _make_tenant_table(conn, TABLE, rls.TenancySpec(), db.roles.app)
        read_only = rls.TenancySpec(insert=rls.deny(), update=rls.deny(), delete=rls.deny())
        _make_tenant_table(conn, READ_ONLY_TABLE, read_only, db.roles.app)
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        for org, letter in ((orgs.a, "a"), (orgs.b, "b")):
            for table in (TABLE, READ_ONLY_TABLE):
                conn.execute(
                    f"INSERT INTO {table} (org_id, email) "
                    "SELECT %s, %s || n || '@example.com' FROM generate_series(1, %s) AS n",
                    (org.org_id, f"{letter}-", ROWS_PER_ORG),
                )
        conn.execute(
            f"INSERT INTO {TABLE} (org_id, email) VALUES (%s, %s)", (orgs.b.org_id, ONLY_IN_B)
        )
        conn.execute("SELECT pg_stat_force_next_flush()")
    tenants = Tenants(db, orgs.a, orgs.b)
    tenants.analyze()
    return tenants


def drop_threat_tables(db: TestDatabase) -> None:
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}, {READ_ONLY_TABLE}")


@pytest.fixture(scope="module")
def tenants(tenantkit_db: TestDatabase, seed: TwoOrgs) -> Iterator[Tenants]:
    found = create_threat_tables(tenantkit_db, seed)
    yield found
    drop_threat_tables(tenantkit_db)


@contextlib.contextmanager
def index(tenants: Tenants, definition: str) -> Iterator[None]:
    """A committed index on the threat table for the block (superuser), dropped after."""
    with tenants.admin() as conn:
        conn.execute(f"CREATE INDEX threat_probe_idx ON {TABLE} {definition}")
    tenants.analyze()
    try:
        yield
    finally:
        with tenants.admin() as conn:
            conn.execute("DROP INDEX threat_probe_idx")


# --- statistics ------------------------------------------------------------------------


def test_pg_class_counts_every_orgs_rows_but_pg_stats_hides_values(tenants: Tenants) -> None:
    tenants.analyze()
    with tenants.admin() as su:
        hidden_stats = su.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' "
            "AND tablename = 'threat_secrets'"
        ).fetchone()
    with tenants.app(tenants.a) as conn:
        visible = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        reltuples, relpages = conn.execute(
            "SELECT reltuples, relpages FROM pg_class WHERE oid = %s::regclass", (TABLE,)
        ).fetchone() or (None, None)
        stats = conn.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' "
            "AND tablename = 'threat_secrets'"
        ).fetchone()
    total = tenants.count()
    assert visible == (tenants.count("org_id = %s", tenants.a.org_id),)
    # Every org's rows, exactly (ANALYZE read them all), to any role.
    assert reltuples == total > int(visible[0])
    assert relpages is not None and relpages > 0
    # Column statistics (most common values, histograms) stay hidden.
    assert hidden_stats is not None and int(hidden_stats[0]) > 0
    assert stats == (0,)


STAT_COLUMNS = "n_tup_ins, n_live_tup, seq_scan"


def _table_stats(conn: Conn) -> tuple[int, int, int]:
    row = conn.execute(
        f"SELECT {STAT_COLUMNS} FROM pg_stat_user_tables WHERE relid = %s::regclass", (TABLE,)
    ).fetchone()
    assert row is not None
    conn.rollback()  # the next read takes a fresh statistics snapshot
    return int(row[0]), int(row[1]), int(row[2])


def test_pg_stat_user_tables_counts_every_orgs_activity(tenants: Tenants) -> None:
    tenants.analyze()  # n_live_tup is exact from here on
    with tenants.app(tenants.a) as watcher, tenants.app(tenants.b) as actor:
        before = _table_stats(watcher)
        # Org B inserts 7 rows and scans the table once; its statistics are
        # flushed when it goes idle (no waiting: pg_stat_force_next_flush).
        actor.execute(
            f"INSERT INTO {TABLE} (email) SELECT 'b-extra-' || n FROM generate_series(1, 7) AS n"
        )
        actor.execute("SET LOCAL enable_indexscan = off")
        actor.execute("SET LOCAL enable_bitmapscan = off")
        actor.execute(f"SELECT count(*) FROM {TABLE}")
        actor.execute("SELECT pg_stat_force_next_flush()")
        actor.commit()
        bind(watcher, tenants.a.org_id, tenants.a.owner_id)
        after = _table_stats(watcher)
    inserted, live, scans = (later - earlier for later, earlier in zip(after, before, strict=True))
    assert (inserted, scans) == (7, 1)  # B's activity, counted exactly, seen from A
    assert after[1] == tenants.count()  # every org's live rows
    assert live == 7


# --- EXPLAIN ANALYZE -------------------------------------------------------------------

PLANS = {
    "index scan": ("enable_seqscan", "enable_bitmapscan"),
    "bitmap scan": ("enable_seqscan", "enable_indexscan"),
}


def observe(conn: Conn, query: str, *params: object) -> list[dict[str, object]]:
    """What EXPLAIN ANALYZE shows of each plan node (timings off: they would be noise)."""
    row = conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) " + query,
        params,
    ).fetchone()
    assert row is not None
    nodes: list[dict[str, object]] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(
            {
                "node": node["Node Type"],
                "index": node.get("Index Name"),
                "rows": float(node.get("Actual Rows", 0)),
                "loops": node.get("Actual Loops"),
                "removed": node.get("Rows Removed by Filter"),
                "blocks": node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0),
            }
        )
        for child in node.get("Plans", []):
            walk(child)

    walk(row[0][0]["Plan"])
    return nodes


def probe(tenants: Tenants, plan: str, value: str) -> list[dict[str, object]]:
    """EXPLAIN ANALYZE of `WHERE email = value` as org A, with the plan shape forced."""
    with tenants.app(tenants.a) as conn:
        for setting in PLANS[plan]:
            conn.execute(f"SET LOCAL {setting} = off")
        query = f"SELECT * FROM {TABLE} WHERE email = %s"
        observe(conn, query, NOWHERE)  # warm the caches: first runs read extra blocks
        return observe(conn, query, value)


def _scan(nodes: list[dict[str, object]]) -> dict[str, object]:
    return nodes[0]


def assert_uses_probe_index(nodes: list[dict[str, object]], plan: str) -> None:
    """The measurement is of the index under test, in the forced plan shape."""
    node = "Index Scan" if plan == "index scan" else "Bitmap Index Scan"
    assert any(n["node"] == node and n["index"] == "threat_probe_idx" for n in nodes), nodes


@pytest.mark.parametrize("plan", list(PLANS))
def test_index_not_led_by_the_tenant_column_tells_whether_another_org_has_a_value(
    tenants: Tenants, plan: str
) -> None:
    with index(tenants, "(email)"):
        in_b = probe(tenants, plan, ONLY_IN_B)
        nowhere = probe(tenants, plan, NOWHERE)
    assert_uses_probe_index(in_b, plan)
    # Both return no row to A ...
    assert _scan(in_b)["rows"] == _scan(nowhere)["rows"] == 0
    # ... but the index found B's row and the policy removed it: A learns it exists.
    assert (_scan(in_b)["removed"], _scan(nowhere)["removed"]) == (1, 0)
    assert in_b != nowhere


@pytest.mark.parametrize("plan", list(PLANS))
def test_index_led_by_the_tenant_column_tells_nothing(tenants: Tenants, plan: str) -> None:
    with index(tenants, "(org_id, email)"):
        in_b = probe(tenants, plan, ONLY_IN_B)
        nowhere = probe(tenants, plan, NOWHERE)
    assert_uses_probe_index(in_b, plan)
    # Every node, every count, every block read: the same whether B has the value or not.
    assert in_b == nowhere
    assert _scan(in_b)["removed"] in (0, None)


def test_a_sequential_scan_counts_the_other_orgs_rows_exactly(tenants: Tenants) -> None:
    # No index closes this: the app role can always switch index scans off.
    with tenants.app(tenants.a) as conn:
        conn.execute("SET LOCAL enable_indexscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        everything = observe(conn, f"SELECT * FROM {TABLE}")
        in_b = observe(conn, f"SELECT * FROM {TABLE} WHERE email = %s", ONLY_IN_B)
        nowhere = observe(conn, f"SELECT * FROM {TABLE} WHERE email = %s", NOWHERE)
    scan = _scan(everything)
    assert scan["node"] == "Seq Scan"
    assert scan["rows"] == tenants.count("org_id = %s", tenants.a.org_id)
    assert scan["removed"] == tenants.count("org_id <> %s", tenants.a.org_id)
    # A value filter over a sequential scan does not tell values apart.
    assert _scan(in_b)["removed"] == _scan(nowhere)["removed"]


# --- LOCK TABLE ------------------------------------------------------------------------


def _lock_modes(tenants: Tenants, pid: int) -> set[str]:
    with tenants.admin() as su:
        rows = su.execute(
            "SELECT mode FROM pg_locks WHERE pid = %s AND relation = %s::regclass AND granted",
            (pid, TABLE),
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_lock_table_lets_one_org_block_every_org(tenants: Tenants) -> None:
    with tenants.app(tenants.a) as holder, tenants.app(tenants.b) as victim:
        holder.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        assert _lock_modes(tenants, pid) == {"AccessExclusiveLock"}
        # B's plain read waits for A's lock; lock_timeout turns the wait into an error.
        victim.execute("SET LOCAL lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            victim.execute(f"SELECT count(*) FROM {TABLE}")
        victim.rollback()
        holder.rollback()
        bind(victim, tenants.b.org_id, tenants.b.owner_id)
        victim.execute("SET LOCAL lock_timeout = '200ms'")
        assert victim.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (
            tenants.count("org_id = %s", tenants.b.org_id),
        )


def test_lock_table_needs_a_write_privilege_beyond_select(tenants: Tenants) -> None:
    # A table the app role may only read (deny() for every write): ACCESS SHARE only.
    with tenants.app(tenants.a) as conn:
        conn.execute(f"LOCK TABLE {READ_ONLY_TABLE} IN ACCESS SHARE MODE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"LOCK TABLE {READ_ONLY_TABLE} IN ACCESS EXCLUSIVE MODE")


# --- ALTER ROLE CURRENT_USER SET -------------------------------------------------------


@pytest.fixture
def app_role_defaults(tenants: Tenants) -> Iterator[None]:
    """Whatever role defaults the test gives the app role are removed afterwards."""
    yield
    with tenants.admin() as su:
        su.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(sql.Identifier(tenants.db.roles.app)))


@pytest.mark.usefixtures("app_role_defaults")
def test_the_app_role_sets_defaults_for_every_future_connection(tenants: Tenants) -> None:
    role = tenants.db.roles.app
    with psycopg.connect(tenants.db.conninfo("app"), autocommit=True) as conn:
        for statement in (
            "ALTER ROLE CURRENT_USER SET search_path = tenantkit",
            "ALTER ROLE CURRENT_USER SET row_security = off",
            "ALTER ROLE CURRENT_USER SET default_transaction_read_only = on",
            "ALTER ROLE CURRENT_USER SET role = 'none'",
            f"ALTER ROLE CURRENT_USER SET session_authorization = {tenants.db.owner}",
        ):
            conn.execute(statement)  # accepted: no privilege needed
        # tenantkit.* are placeholder parameters: since PostgreSQL 15 only a
        # superuser (or a role granted SET on the parameter) may store them.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"ALTER ROLE CURRENT_USER SET tenantkit.org_id = '{tenants.b.org_id}'")
    # Every new connection of the app role, whichever tenant it serves, starts with them.
    with tenants.app() as later:
        settings = later.execute(
            "SELECT current_setting('search_path'), current_setting('row_security'), "
            "current_setting('default_transaction_read_only'), current_user::text"
        ).fetchone()
        later.rollback()
        bind(later, tenants.b.org_id, tenants.b.owner_id)
        with pytest.raises(psycopg.errors.UndefinedTable):
            later.execute("SELECT count(*) FROM threat_secrets")  # unqualified: not found
        later.rollback()
        bind(later, tenants.b.org_id, tenants.b.owner_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            later.execute(f"SELECT count(*) FROM {TABLE}")  # row_security = off: refused
    # (A session_authorization default is stored, but not applied to a non-superuser.)
    assert settings == ("tenantkit", "off", "on", role)
    # The doctor reports each one (check 13), with its reset.
    engine = sa.create_engine(tenants.db.url("owner"), poolclass=sa.NullPool)
    try:
        found = [f for f in run_checks(engine, app_role=role) if f.check == "role-defaults"]
    finally:
        engine.dispose()
    assert sorted(f.fix for f in found) == sorted(
        f"ALTER ROLE {role} RESET {name};"
        for name in (
            "search_path",
            "row_security",
            "default_transaction_read_only",
            "role",
            "session_authorization",
        )
    )


# --- pg_stat_activity ------------------------------------------------------------------


@contextlib.contextmanager
def _idle_in_bound_transaction(engine: sa.Engine, org: SeededOrg) -> Iterator[int]:
    """Leave a bound transaction open right after the bind; yields its backend pid.

    psycopg begins (and tenantkit binds) the transaction before it converts a
    statement's parameters, so a statement with too few parameters fails in
    the client after the bind was sent and before anything else: the
    session's last query is the bind itself.
    """
    with tenantkit.tenant_context(org.context(org.owner_id)), engine.connect() as conn:
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        conn.commit()
        with pytest.raises(sa.exc.ProgrammingError):
            conn.exec_driver_sql("SELECT %s, %s", (1,))
        yield pid
        conn.rollback()


def _activity(tenants: Tenants, pid: int) -> tuple[str, str]:
    # Read by another tenant's session of the app role, bound to B.
    with tenants.app(tenants.b) as observer:
        row = observer.execute(
            "SELECT state, query FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


@pytest.mark.parametrize("binding", ["set_local", "set_config"])
def test_set_local_binding_shows_the_ids_to_every_app_role_session(
    tenants: Tenants, binding: Literal["set_local", "set_config"]
) -> None:
    engine = tenantkit.create_engine(tenants.db.url("app"), binding=binding, poolclass=sa.NullPool)
    try:
        with _idle_in_bound_transaction(engine, tenants.a) as pid:
            state, query = _activity(tenants, pid)
    finally:
        engine.dispose()
    assert state == "idle in transaction"
    assert "tenantkit.org_id" in query  # it is the bind statement
    shown = tenants.a.org_id in query and tenants.a.owner_id in query
    assert shown == (binding == "set_local"), query


@pytest.mark.parametrize("parameterised", [False, True])
def test_statement_text_is_visible_to_other_orgs_sessions(
    tenants: Tenants, parameterised: bool
) -> None:
    # Not only the binding's: the application's own literals show too; parameters do not.
    with tenants.app(tenants.a) as conn:
        if parameterised:
            conn.execute(f"SELECT count(*) FROM {TABLE} WHERE email = %s", ("a-secret-search",))
        else:
            conn.execute(f"SELECT count(*) FROM {TABLE} WHERE email = 'a-secret-search'")
        state, query = _activity(tenants, conn.info.backend_pid)
    assert state == "idle in transaction"
    assert ("a-secret-search" in query) == (not parameterised), query


# --- a server of our own: two-phase commit, pg_stat_statements -------------------------


def _server_user() -> tuple[int, int] | None:
    # initdb refuses to run as root; as servers.py does, borrow a system user.
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    return None


def _start_cluster(bindir: Path, settings: dict[str, str]) -> tuple[URL, Callable[[], None]]:
    """initdb and start a throwaway server with `settings` on its command line."""
    base = Path(tempfile.mkdtemp(prefix="tenantkit-threat-"))
    user = _server_user()
    if os.geteuid() == 0 and user is None:
        shutil.rmtree(base)
        pytest.skip("running as root without a postgres system user to run initdb")
    if user is not None:
        os.chown(base, *user)

    def run(*args: str) -> None:
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            user=user[0] if user else None,
            group=user[1] if user else None,
        )

    data = str(base / "data")
    run(str(bindir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    options = f"-h '' -k {base} -F " + " ".join(f"-c {k}={v}" for k, v in settings.items())
    run(str(bindir / "pg_ctl"), "-D", data, "-w", "-l", str(base / "log"), "-o", options, "start")

    def stop() -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            run(str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)

    url = URL.create(
        "postgresql+psycopg", username="postgres", database="postgres", query={"host": str(base)}
    )
    return url, stop


@pytest.fixture(scope="module")
def own_server(
    tenantkit_server: RunningServer, binding_key: BindingKey | None
) -> Iterator[Tenants]:
    """A throwaway server with two-phase commit and pg_stat_statements, migrated and seeded."""
    if tenantkit_server.choice.kind not in ("embedded", "local"):
        pytest.skip(
            "needs local server binaries: max_prepared_transactions and "
            "shared_preload_libraries only change with a restart, and the run's "
            f"{tenantkit_server.choice.kind} server must not be restarted"
        )
    with psycopg.connect(
        tenantkit_server.admin_url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg://", "postgresql://", 1
        ),
        autocommit=True,
    ) as conn:
        row = conn.execute("SELECT setting FROM pg_config WHERE name = 'BINDIR'").fetchone()
    assert row is not None
    url, stop = _start_cluster(
        Path(str(row[0])),
        {"max_prepared_transactions": "4", "shared_preload_libraries": "pg_stat_statements"},
    )
    try:
        server = RunningServer(ServerChoice("local", str(row[0])), url, throwaway=True, _stop=stop)
        db = provision_database(server)
        migrate.upgrade(db.url("owner"), roles=db.roles)
        configure_signing(db, binding_key)  # a new install signs: with the run's key
        engine = sa.create_engine(db.url("service"), poolclass=sa.NullPool)
        with engine.begin() as conn:
            orgs = seed_two_orgs(conn)
        engine.dispose()
        with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        yield create_threat_tables(db, orgs)
    finally:
        stop()


def _prepare(tenants: Tenants, org: SeededOrg, email: str) -> str:
    """Org's session inserts a row and PREPAREs the transaction; returns its gid."""
    gid = f"tk-{uuid.uuid4()}"
    with tenants.app(org) as conn:
        conn.execute(f"INSERT INTO {TABLE} (email) VALUES (%s)", (email,))
        conn.execute(sql.SQL("PREPARE TRANSACTION {}").format(sql.Literal(gid)))
    return gid


@pytest.mark.parametrize("finish", ["ROLLBACK PREPARED", "COMMIT PREPARED"])
def test_one_org_finishes_another_orgs_prepared_transaction(
    own_server: Tenants, finish: str
) -> None:
    tenants = own_server
    email = f"prepared-by-a-{uuid.uuid4()}"
    gid = _prepare(tenants, tenants.a, email)
    with tenants.app(tenants.b) as conn:
        listed = conn.execute(
            "SELECT owner, database FROM pg_prepared_xacts WHERE gid = %s", (gid,)
        ).fetchone()
        conn.rollback()
        conn.autocommit = True
        conn.execute(sql.SQL(finish + " {}").format(sql.Literal(gid)))
    assert listed == (tenants.db.roles.app, tenants.db.name)
    # B decided the fate of A's write: discarded, or made durable.
    assert tenants.count("email = %s", email) == (1 if finish == "COMMIT PREPARED" else 0)


def test_the_prepared_rows_themselves_stay_hidden(own_server: Tenants) -> None:
    # What B cannot do: read the prepared transaction's rows, before or after it commits.
    tenants = own_server
    email = f"prepared-by-a-{uuid.uuid4()}"
    gid = _prepare(tenants, tenants.a, email)
    query = f"SELECT count(*) FROM {TABLE} WHERE email = %s"
    with tenants.app(tenants.b) as conn:
        before = conn.execute(query, (email,)).fetchone()
        conn.rollback()
        conn.autocommit = True
        conn.execute(sql.SQL("COMMIT PREPARED {}").format(sql.Literal(gid)))
        after = conn.execute(query, (email,)).fetchone()
    assert before == after == (0,)
    assert tenants.count("email = %s AND org_id = %s", email, tenants.a.org_id) == 1


def test_doctor_warns_about_two_phase_commit(own_server: Tenants) -> None:
    engine = sa.create_engine(own_server.db.url("owner"), poolclass=sa.NullPool)
    try:
        found = run_checks(engine, app_role=own_server.db.roles.app)
    finally:
        engine.dispose()
    warned = [f for f in found if f.check == "prepared-xacts"]
    assert [(f.severity, f.object) for f in warned] == [("warning", "server")]
    assert "max_prepared_transactions = 4" in warned[0].problem


def _statements(conn: Conn, marker: str) -> list[tuple[int, int, str]]:
    rows = conn.execute(
        "SELECT calls, rows, query FROM pg_stat_statements WHERE query LIKE %s ORDER BY query",
        (f"%{marker}%",),
    ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def test_pg_stat_statements_shows_every_orgs_statements(own_server: Tenants) -> None:
    tenants = own_server
    marker = f"report-{uuid.uuid4().hex[:8]}"
    with tenants.app(tenants.b) as conn:
        for _ in range(3):
            conn.execute(f"SELECT /* {marker} */ email FROM {TABLE} WHERE email = %s", (ONLY_IN_B,))
    with tenants.app(tenants.a) as conn:
        seen = _statements(conn, marker)
    # A sees B's statement: its text (comments included), how often, how many rows.
    assert [(calls, rows) for calls, rows, _ in seen] == [(3, 3)]
    assert seen[0][2].endswith("WHERE email = $1")


def test_pg_stat_statements_keeps_set_local_ids_before_postgresql_16(own_server: Tenants) -> None:
    tenants = own_server
    engine = tenantkit.create_engine(
        tenants.db.url("app"), binding="set_local", poolclass=sa.NullPool
    )
    try:
        with tenantkit.tenant_context(tenants.b.context(tenants.b.owner_id)), engine.connect() as c:
            c.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one()
            c.commit()
    finally:
        engine.dispose()
    with tenants.app(tenants.a) as conn:
        version = int(str(conn.execute("SHOW server_version_num").fetchone()[0]))  # type: ignore[index]
        texts = [q for _, _, q in _statements(conn, "SET LOCAL tenantkit.org_id")]
    assert texts, "the set_local binding's statement is tracked"
    leaked = any(tenants.b.org_id in text for text in texts)
    if version < 160000:
        assert leaked, texts  # measured on 15: every org id ever bound, to every app session
    elif version >= 180000:
        assert not leaked and any("$1" in text for text in texts), texts  # measured on 18
