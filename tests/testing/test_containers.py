"""The container server kind: loopback TCP with a password, and no container left behind.

These run when the suite itself runs on the docker kind (`make test-container`);
on the other kinds they skip, except the configuration tests at the end (pure).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import tenantkit
from tenantkit.testing import RunningServer, TestDatabase
from tenantkit.testing.containers import (
    HOST_LABEL,
    LABEL,
    PID_LABEL,
    owner_labels,
    sweep_leftovers,
)

DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def container(tenantkit_server: RunningServer) -> RunningServer:
    if tenantkit_server.choice.kind != "docker":
        pytest.skip("the run is not on a container (make test-container runs these)")
    if DOCKER is None:
        pytest.skip("no docker CLI to inspect the containers with")
    return tenantkit_server


def docker(*args: str) -> str:
    assert DOCKER is not None
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def containers_of(pid: int) -> list[str]:
    """`docker ps -a` for the harness's containers owned by this host's process `pid`."""
    filters = [LABEL, f"{HOST_LABEL}={socket.gethostname()}", f"{PID_LABEL}={pid}"]
    out = docker("ps", "-a", "-q", *[arg for f in filters for arg in ("--filter", f"label={f}")])
    return out.split()


# --- traffic: TCP over loopback, a password, sslmode -------------------------------


def test_traffic_goes_over_loopback_never_a_bridge(
    container: RunningServer, tenantkit_db: TestDatabase
) -> None:
    (container_id,) = containers_of(os.getpid())
    (inspected,) = json.loads(docker("inspect", container_id))
    network = inspected["NetworkSettings"]
    bridge_addresses = {network["IPAddress"], network["Gateway"]}
    url = tenantkit_db.url("app")
    assert url.host == "127.0.0.1"
    assert url.host not in bridge_addresses
    # Published on loopback only: nothing else on the host reaches the test server.
    assert network["Ports"]["5432/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(url.port)}]
    with psycopg.connect(tenantkit_db.conninfo("app")) as conn:
        peer = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            assert peer.family == socket.AF_INET
            assert peer.getpeername() == ("127.0.0.1", url.port)
        finally:
            peer.close()


def test_the_server_checks_passwords(container: RunningServer, tenantkit_db: TestDatabase) -> None:
    wrong = tenantkit_db.url("app").set(password="not-" + tenantkit_db.password)
    engine = tenantkit.create_engine(wrong)
    try:
        with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
            engine.connect()
    finally:
        engine.dispose()
    with psycopg.connect(tenantkit_db.conninfo("admin")) as conn:
        row = conn.execute(
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s",
            (tenantkit_db.roles.app,),
        ).fetchone()
    assert row == (True,)


def test_an_awkward_admin_password_works_in_every_form(
    container: RunningServer, tenantkit_db: TestDatabase
) -> None:
    password = container.admin_url.password
    assert password is not None
    assert set(" @:/?#%'\"\\") <= set(password)  # the test would prove nothing otherwise
    rendered = container.admin_url.render_as_string(hide_password=False)
    engine = sa.create_engine(rendered)  # a URL string, as a user pastes one
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar_one() == "postgres"
    finally:
        engine.dispose()
    with psycopg.connect(tenantkit_db.conninfo("admin")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_sslmode_in_the_url_reaches_libpq(
    container: RunningServer, tenantkit_db: TestDatabase
) -> None:
    """The container serves no TLS: `require` must fail, proving the mode was passed on."""
    for mode, works in (("disable", True), ("prefer", True), ("require", False)):
        url = tenantkit_db.url("app").update_query_dict({"sslmode": mode})
        engine = tenantkit.create_engine(url)
        try:
            if works:
                with engine.connect() as conn:
                    assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            else:
                with pytest.raises(sa.exc.OperationalError, match="does not support SSL"):
                    engine.connect()
        finally:
            engine.dispose()


# --- the image keeps the official image's contract ----------------------------------


def test_the_image_honours_postgres_user_password_and_db(container: RunningServer) -> None:
    """Not only the harness's own settings: another user, password and database, as a
    user's compose file or CI service would set them, on port 5432."""
    image = container.choice.detail
    password = "s3cret pw"
    labels = [arg for key, value in owner_labels().items() for arg in ("--label", f"{key}={value}")]
    container_id = docker("run", "-d", *labels, "-e", "POSTGRES_USER=alice",
                          "-e", f"POSTGRES_PASSWORD={password}", "-e", "POSTGRES_DB=shop",
                          "-e", "POSTGRES_INITDB_ARGS=--no-sync",
                          "-p", "127.0.0.1::5432", image).strip()
    try:
        port = int(docker("port", container_id, "5432/tcp").split(":")[-1])
        conninfo = f"host=127.0.0.1 port={port} user=alice dbname=shop"
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = psycopg.connect(f"{conninfo} password='{password}'", connect_timeout=5)
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, docker("logs", container_id)
                time.sleep(0.5)
        with conn:
            row = conn.execute("SELECT current_user, current_database(), "
                               "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                               ).fetchone()
            assert row == ("alice", "shop", True)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"{conninfo} password=wrong", connect_timeout=5)
    finally:
        docker("rm", "-f", "-v", container_id)


def test_the_image_refuses_to_start_without_a_password(container: RunningServer) -> None:
    done = subprocess.run([DOCKER or "docker", "run", "--rm", *[
        arg for key, value in owner_labels().items() for arg in ("--label", f"{key}={value}")],
        container.choice.detail], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stdout + done.stderr


# --- cleanup: runs that fail, are interrupted, or are killed -----------------------

INNER_TEST = """
import os, pathlib, time

def test_hold(tenantkit_server):
    pathlib.Path(os.environ["TK_READY"]).write_text(str(os.getpid()))
    if os.environ["TK_CASE"] == "fails":
        raise AssertionError("a failing test")
    time.sleep(300)
"""


@dataclass
class Child:
    case: str
    process: subprocess.Popen[bytes]
    output: Path


@pytest.fixture(scope="module")
def children(
    container: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Child]]:
    """Pytest runs on the container kind, started together, each holding its container."""
    started: dict[str, Child] = {}
    for case in ("fails", "SIGINT", "SIGTERM", "SIGKILL"):
        work = tmp_path_factory.mktemp(f"run-{case}")
        (work / "pytest.ini").write_text("[pytest]\n")
        (work / "test_hold.py").write_text(INNER_TEST)
        env = {
            **os.environ,
            "TENANTKIT_TEST_SERVER": "docker",
            "TENANTKIT_TEST_DOCKER_IMAGE": container.choice.detail,
            "TK_READY": str(work / "ready"),
            "TK_CASE": case,
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the plugin alone: a quicker start
        }
        output = work / "output"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "tenantkit.testing.plugin", "test_hold.py"],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started[case] = Child(case, process, output)
    try:
        for child in started.values():
            ready = Path(child.output.parent / "ready")
            deadline = time.monotonic() + 180
            while not ready.exists() and child.process.poll() is None:
                assert time.monotonic() < deadline, child.output.read_text()
                time.sleep(0.2)
            assert ready.exists(), child.output.read_text()
        yield started
    finally:
        for child in started.values():
            if child.process.poll() is None:
                child.process.kill()
            child.process.wait(timeout=60)
        sweep_leftovers()


def finish(child: Child) -> int:
    code = child.process.wait(timeout=120)
    output = child.output.read_text()
    assert "tenantkit: PostgreSQL in a testcontainers container, image" in output, output
    return code


def test_a_failing_run_leaves_no_container(children: dict[str, Child]) -> None:
    child = children["fails"]
    assert finish(child) == 1
    assert containers_of(child.process.pid) == []


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 2), (signal.SIGTERM, -signal.SIGTERM)],
    ids=["SIGINT", "SIGTERM"],
)
def test_an_interrupted_run_leaves_no_container(
    children: dict[str, Child], signum: signal.Signals, exit_code: int
) -> None:
    child = children[signum.name]
    assert len(containers_of(child.process.pid)) == 1  # it is there while the run holds it
    child.process.send_signal(signum)
    # SIGINT: pytest's own teardown; SIGTERM: the harness's handler, then the default action.
    assert finish(child) == exit_code
    assert containers_of(child.process.pid) == []


def test_a_killed_runs_container_is_swept_by_the_next_run(children: dict[str, Child]) -> None:
    """SIGKILL runs no cleanup at all: the container stays, until a later start sweeps it."""
    child = children["SIGKILL"]
    child.process.send_signal(signal.SIGKILL)
    assert finish(child) == -signal.SIGKILL
    assert len(containers_of(child.process.pid)) == 1  # what the sweep is for
    assert containers_of(os.getpid())  # this run's own container: alive, so never swept
    assert sweep_leftovers() >= 1
    assert containers_of(child.process.pid) == []
    assert containers_of(os.getpid())


# --- configuration: loopback and Ryuk (pure, on every kind) -------------------------


def _config(**overrides: object) -> Any:
    from types import SimpleNamespace

    settings: dict[str, object] = {
        "tc_host_override": None, "connection_mode_override": None, "ryuk_disabled": False,
        "ryuk_image": "testcontainers/ryuk:0.8.1", "tc_properties": {},
    }
    settings.update(overrides)
    return SimpleNamespace(**settings)


@pytest.fixture
def no_user_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED", "TESTCONTAINERS_HOST_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.nodb
@pytest.mark.usefixtures("no_user_choices")
@pytest.mark.parametrize("pullable", [True, False])
def test_ryuk_is_used_only_where_its_image_can_be_had(
    monkeypatch: pytest.MonkeyPatch, pullable: bool
) -> None:
    from testcontainers.core.config import ConnectionMode

    from tenantkit.testing import containers

    asked: list[str] = []

    def available(image: str) -> bool:
        asked.append(image)
        return pullable

    monkeypatch.setattr(containers, "_image_available", available)
    config = _config()
    assert containers._configure_testcontainers(config) is True
    assert asked == ["testcontainers/ryuk:0.8.1"]
    assert config.ryuk_disabled is not pullable
    # Loopback, and never the bridge or gateway testcontainers picks inside a container.
    assert config.tc_host_override == "127.0.0.1"
    assert config.connection_mode_override == ConnectionMode.docker_host


@pytest.mark.nodb
@pytest.mark.usefixtures("no_user_choices")
def test_the_users_choices_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from tenantkit.testing import containers

    def never(_image: str) -> bool:
        raise AssertionError("Ryuk was chosen by the user: no probe")

    monkeypatch.setattr(containers, "_image_available", never)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "false")
    config = _config(tc_host_override="docker.internal.example")
    assert containers._configure_testcontainers(config) is False  # not loopback: no pinning
    assert (config.tc_host_override, config.ryuk_disabled) == ("docker.internal.example", False)
    monkeypatch.delenv("TESTCONTAINERS_RYUK_DISABLED")
    config = _config(tc_properties={"ryuk.disabled": "true"}, ryuk_disabled=True)
    monkeypatch.setenv("DOCKER_HOST", "tcp://docker.example:2376")  # a remote engine
    assert containers._configure_testcontainers(config) is False
    assert (config.tc_host_override, config.ryuk_disabled) == (None, True)
