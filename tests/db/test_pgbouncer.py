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

import psycopg
import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit import tenant_context
from tenantkit.db.signing import BindingKey, BindingSigner, add_key, retire_key
from tenantkit.testing import SeededOrg, TestDatabase, TwoOrgs
from tests.conftest import NOTES_PER_ORG

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


# --- signed binding's attacks through the pooler: each a protected/exposed pair -------

B_NOTES = sa.text("SELECT count(*) FROM public.notes WHERE org_id = :o")
REPLAY = sa.text(
    "SELECT set_config('tenantkit.user_id', :u, true), set_config('tenantkit.org_id', :o, true), "
    "set_config('tenantkit.signature', :s, true)"
)


def _signer() -> BindingSigner:
    signer = BindingSigner.from_env()
    assert signer is not None, "the test run signs (tenantkit.testing.plugin.binding_key)"
    return signer


def test_pooler_set_config_of_another_orgs_member_reads_nothing_and_writes_nothing(
    pooled: sa.Engine, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    write = sa.text("INSERT INTO public.notes (org_id, body) VALUES (:o, 'spoofed')")
    with tenant_context(a.context(a.member_id)), pooled.connect() as conn:
        conn.execute(SPOOF, {"u": b.member_id, "o": b.org_id})
        seen = conn.execute(B_NOTES, {"o": b.org_id}).scalar_one()
        if signing:
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                conn.execute(write, {"o": b.org_id})
        else:
            conn.execute(write, {"o": b.org_id})  # the hole signing closes
        conn.rollback()
    assert seen == (0 if signing else NOTES_PER_ORG)


def test_pooler_binding_as_ones_own_owner_gains_nothing(
    pooled: sa.Engine, notes: TwoOrgs, signing: bool
) -> None:
    a = notes.a
    powers = sa.text("SELECT tenantkit.has_min_role('Owner'), "
                     "tenantkit.has_permission('tenantkit::can_delete_org')")
    with tenant_context(a.context(a.member_id)), pooled.connect() as conn:
        conn.execute(SPOOF, {"u": a.owner_id, "o": a.org_id})
        got = tuple(conn.execute(powers).one())
        conn.rollback()
    assert got == ((False, False) if signing else (True, True))


def test_pooler_expired_and_rotated_out_signatures_give_nothing(
    pooled: sa.Engine, tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    a, b = notes.a, notes.b
    expired = _signer().sign(b.owner_id, b.org_id, 0, int(time.time()) - 5).decode()
    rotated = BindingKey.generate("pooler-rotated")
    with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
        add_key(owner, rotated)
        assert retire_key(owner, rotated.key_id)
    try:
        old = BindingSigner([rotated])
        retired = old.sign(b.owner_id, b.org_id, 0, old.expiry()).decode()
        seen = []
        for signature in (expired, retired):
            with tenant_context(a.context(a.member_id)), pooled.connect() as conn:
                conn.execute(REPLAY, {"u": b.owner_id, "o": b.org_id, "s": signature})
                seen.append(conn.execute(B_NOTES, {"o": b.org_id}).scalar_one())
                conn.rollback()
    finally:
        with psycopg.connect(tenantkit_db.conninfo("owner"), autocommit=True) as owner:
            owner.execute("DELETE FROM tenantkit.binding_keys WHERE key_id = %s",
                          (rotated.key_id,))
    expected = 0 if signing else NOTES_PER_ORG
    assert seen == [expected, expected]


def test_pooler_a_backend_bound_signature_does_not_replay_but_an_any_backend_one_does(
    pooled: sa.Engine, tenantkit_db: TestDatabase, notes: TwoOrgs, signing: bool
) -> None:
    """A direct connection's signature is bound to its backend: worthless through the
    pooler. One made behind the pooler (pid 0) replays from any connection until it
    expires: the residual risk the README's threat model states (such a signature
    travels only as a bind parameter in the default mode, so SQL cannot read it)."""
    a, b = notes.a, notes.b
    direct = tenantkit.create_engine(tenantkit_db.url("app"), poolclass=sa.NullPool)
    try:
        with tenant_context(b.context(b.owner_id)), direct.connect() as conn:
            pid_bound = str(conn.execute(SIGNATURE).scalar_one())
    finally:
        direct.dispose()
    with tenant_context(b.context(b.owner_id)), pooled.connect() as conn:
        any_backend = str(conn.execute(SIGNATURE).scalar_one())
        conn.rollback()
    assert pid_bound.split(":")[2] != "0" and any_backend.split(":")[2] == "0"
    seen = []
    for signature in (pid_bound, any_backend):
        with tenant_context(a.context(a.member_id)), pooled.connect() as conn:
            conn.execute(REPLAY, {"u": b.owner_id, "o": b.org_id, "s": signature})
            seen.append(conn.execute(B_NOTES, {"o": b.org_id}).scalar_one())
            conn.rollback()
    assert seen == ([0, NOTES_PER_ORG] if signing else [NOTES_PER_ORG, NOTES_PER_ORG])
