"""Binding through PgBouncer in transaction pooling mode.

Every client transaction may land on a different server connection, and many
clients share one: binding must live and die with the transaction. PgBouncer
1.18 (Debian 12) does not track prepared statements, so the engines run with
prepare_threshold=None, as they must behind such a pooler.

A transaction pooler gives the client no check-in hook: what one client leaves
at session level on the shared server connection, the next client's
transaction finds. tenantkit's guarantees hold there by other means: the
binding stamp (a session-level tenantkit.* value is never taken for a
binding, in any later transaction or autocommit statement) and no TEMPORARY
privilege for the app role (doctor checks it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit import tenant_context
from tenantkit.testing import SeededOrg, TestDatabase, TwoOrgs

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = pytest.mark.skipif(
    not Path(PGBOUNCER).is_file(), reason="pgbouncer is not installed (make test installs it)"
)
ORGS = sa.text("SELECT DISTINCT org_id::text FROM public.notes")
PID = sa.text("SELECT pg_backend_pid()")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def bouncer(tenantkit_db: TestDatabase) -> Iterator[sa.URL]:
    """A PgBouncer in transaction mode with ONE server connection for the app role."""
    url = tenantkit_db.url("app")
    host = url.query.get("host") or url.host or "127.0.0.1"
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="tenantkit-pgbouncer-"))
    server = (
        f"host={host} port={url.port or 5432} dbname={url.database} "
        f"user={url.username} password={url.password}"
    )
    (workdir / "pgbouncer.ini").write_text(
        f"[databases]\nappdb = {server} pool_size=1\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\nmax_client_conn = 50\n"
        f"logfile = {workdir / 'log'}\npidfile = {workdir / 'pid'}\n"
        "server_reset_query =\n"
    )
    run_as = {}
    if os.geteuid() == 0:
        # pgbouncer refuses to run as root; run it as whoever owns the server's
        # socket directory (the server's own user), so it can reach the socket.
        owner = os.stat(host) if host.startswith("/") else None
        if owner is None or owner.st_uid == 0:
            import pwd

            entry = pwd.getpwnam("postgres")
            uid, gid = entry.pw_uid, entry.pw_gid
        else:
            uid, gid = owner.st_uid, owner.st_gid
        os.chown(workdir, uid, gid)
        run_as = {"user": uid, "group": gid}
    process = subprocess.Popen(
        [PGBOUNCER, str(workdir / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **run_as,  # type: ignore[arg-type]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"pgbouncer did not start: {process.stderr.read() if process.stderr else ''}")
    yield sa.URL.create(
        "postgresql+psycopg", username=url.username, host="127.0.0.1", port=port, database="appdb"
    )
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pooled(bouncer: sa.URL) -> Iterator[sa.Engine]:
    engine = tenantkit.create_engine(
        bouncer, pool_size=4, max_overflow=0, connect_args={"prepare_threshold": None}
    )
    yield engine
    engine.dispose()


def _orgs_and_pid(engine: sa.Engine, org: SeededOrg | None) -> tuple[set[str], int]:
    ctx = org.context(org.member_id) if org else None
    with tenant_context(ctx), engine.connect() as conn:
        pid = int(conn.execute(PID).scalar_one())
        orgs = {row[0] for row in conn.execute(ORGS)}
        conn.commit()
    return orgs, pid


def test_clients_multiplexed_on_one_server_connection_stay_isolated(
    pooled: sa.Engine, notes: TwoOrgs
) -> None:
    seen: list[tuple[str, set[str], int]] = []
    lock = threading.Lock()

    def client(org: SeededOrg | None, label: str) -> None:
        for _ in range(25):
            orgs, pid = _orgs_and_pid(pooled, org)
            with lock:
                seen.append((label, orgs, pid))

    threads = [
        threading.Thread(target=client, args=(notes.a, notes.a.org_id)),
        threading.Thread(target=client, args=(notes.b, notes.b.org_id)),
        threading.Thread(target=client, args=(None, "unbound")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 75
    assert len({pid for _, _, pid in seen}) == 1  # one server connection served all clients
    for label, orgs, _ in seen:
        assert orgs == (set() if label == "unbound" else {label})


_ATTACK = """
import sys, sqlalchemy as sa, tenantkit
from tenantkit import TenantContext, tenant_context
url, user_a, org_a, user_b, org_b = sys.argv[1:]
engine = tenantkit.create_engine(url, poolclass=sa.NullPool,
                                 connect_args={"prepare_threshold": None})
with tenant_context(TenantContext(user_a, org_a)), engine.connect() as conn:
    # As injected SQL could: B's ids, at session level, on the shared server connection.
    conn.exec_driver_sql(f"SELECT set_config('tenantkit.user_id', '{user_b}', false)")
    conn.exec_driver_sql(f"SET tenantkit.org_id = '{org_b}'")
    conn.exec_driver_sql("SELECT set_config('tenantkit.bound', "
                         "current_setting('tenantkit.bound'), false)")
    print(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    conn.commit()
"""


def _attack_from_another_process(url: sa.URL, notes: TwoOrgs) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _ATTACK, url.render_as_string(hide_password=False),
         notes.a.member_id, notes.a.org_id, notes.b.member_id, notes.b.org_id],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return int(done.stdout.strip())


def _what_another_engine_sees(url: sa.URL) -> tuple[int, set[str], set[str]]:
    engine = tenantkit.create_engine(url, poolclass=sa.NullPool,
                                     connect_args={"prepare_threshold": None})
    try:
        with engine.connect() as conn:
            pid = int(conn.execute(PID).scalar_one())
            unbound = {row[0] for row in conn.execute(ORGS)}
            conn.commit()
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            autocommit = {row[0] for row in conn.execute(ORGS)}
    finally:
        engine.dispose()
    return pid, unbound, autocommit


@pytest.fixture
def no_checkout_cleanup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the stamp stands: the probe's cleanup is off (it would clear the values too)."""
    from tenantkit.db import _connection as binding
    from tests.db.test_pool_hygiene import _no_reset

    monkeypatch.setattr(binding._TenantBinding, "_reset", _no_reset)


def test_session_settings_of_one_process_never_bind_another_through_the_pooler(
    bouncer: sa.URL, notes: TwoOrgs, no_checkout_cleanup: None
) -> None:
    attacker_pid = _attack_from_another_process(bouncer, notes)
    pid, unbound, autocommit = _what_another_engine_sees(bouncer)
    assert pid == attacker_pid  # the same server connection, now serving another client
    assert unbound == set()
    assert autocommit == set()


def test_without_the_stamp_the_pooler_carries_the_attack_over(
    bouncer: sa.URL, notes: TwoOrgs, no_checkout_cleanup: None, without_stamp_check: None
) -> None:
    # The protection switched off: the other client's unbound work acts as B.
    _attack_from_another_process(bouncer, notes)
    _, unbound, autocommit = _what_another_engine_sees(bouncer)
    assert unbound == {notes.b.org_id}
    assert autocommit == {notes.b.org_id}


def test_no_temporary_tables_through_the_pooler(bouncer: sa.URL, notes: TwoOrgs) -> None:
    engine = tenantkit.create_engine(bouncer, poolclass=sa.NullPool,
                                     connect_args={"prepare_threshold": None})
    try:
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
            tenant_context(notes.a.context(notes.a.member_id)),
            engine.connect() as conn,
        ):
            conn.exec_driver_sql("CREATE TEMP TABLE notes (org_id uuid, body text)")
    finally:
        engine.dispose()


SIGNATURE = sa.text("SELECT current_setting('tenantkit.signature')")
SPOOF = sa.text(
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true)"
)


def test_signed_binding_through_the_pooler_signs_for_any_backend_and_stops_spoofing(
    pooled: sa.Engine, notes: TwoOrgs, superuser: Any
) -> None:
    # The client cannot know which server connection its transaction lands on, so
    # it signs for any backend (pid 0); the signature still covers the ids, and
    # it travels as a bind parameter, never in SQL text.
    signed = superuser.execute("SELECT signed_binding FROM tenantkit.settings").fetchone()
    assert signed == (True,), "the test run signs (tenantkit.testing.plugin.binding_key)"
    a, b = notes.a, notes.b
    with tenant_context(a.context(a.member_id)), pooled.connect() as conn:
        assert {row[0] for row in conn.execute(ORGS)} == {a.org_id}
        assert str(conn.execute(SIGNATURE).scalar_one()).split(":")[2] == "0"
        conn.execute(SPOOF, {"u": b.member_id, "o": b.org_id})
        assert conn.execute(ORGS).all() == []
        conn.rollback()
