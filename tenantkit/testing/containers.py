"""A PostgreSQL in a Docker container (testcontainers), and never leaving one behind.

- Traffic stays on loopback: unless `TESTCONTAINERS_HOST_OVERRIDE` (or `TC_HOST`) names
  another host, or `DOCKER_HOST` is remote, the client connects to 127.0.0.1 and the
  port is published on 127.0.0.1 only; never through a bridge or gateway address.
- The server is remote from the client's point of view: TCP, and a password (scram)
  with characters that URLs and conninfo strings must escape.
- Cleanup does not depend on testcontainers' reaper (Ryuk), an image pulled from Docker
  Hub: it is disabled where it cannot be pulled. Every container is labelled with its
  owner (host name and process id) and removed at `stop()`, at interpreter exit, on
  SIGTERM/SIGHUP, and, for a run killed outright, by the next run's startup sweep
  (containers of this host whose owner process is gone).

`python -m tenantkit.testing.containers` removes such leftovers and exits 1 if it found
any: `make test` runs it after the container suite.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, cast

from sqlalchemy.engine import URL

__all__ = [
    "HOST_LABEL",
    "LABEL",
    "PID_LABEL",
    "leftover_containers",
    "owner_labels",
    "remove_containers_of",
    "start_postgres_container",
    "sweep_leftovers",
]

LABEL = "tenantkit.testing"
HOST_LABEL = "tenantkit.testing.host"
PID_LABEL = "tenantkit.testing.pid"
LOOPBACK = "127.0.0.1"
# The superuser's name on every kind. Not "tenantkit": "$user" in search_path would
# then resolve to tenantkit's own schema, ahead of public.
ADMIN_USER = "postgres"
_PORT = 5432
_HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_cleanup_installed = False


def owner_labels(pid: int | None = None) -> dict[str, str]:
    """The labels naming this process (or `pid`) as a container's owner."""
    return {LABEL: "true", HOST_LABEL: socket.gethostname(), PID_LABEL: str(pid or os.getpid())}


def start_postgres_container(image: str) -> tuple[URL, Callable[[], None]]:
    """Start `image` (the official `postgres` contract); its superuser URL and a stop."""
    from testcontainers.core.config import testcontainers_config

    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before the community/ layout
        from testcontainers.postgres import PostgresContainer

    loopback = _configure_testcontainers(testcontainers_config)
    sweep_leftovers()
    _install_cleanup()
    # Characters that a URL must percent-encode and a conninfo string must quote.
    password = f"tk {secrets.token_urlsafe(12)} @:/?#%'\"\\"
    container = PostgresContainer(
        image,
        port=_PORT,
        username=ADMIN_USER,
        password=password,
        dbname="postgres",
        driver=None,
        labels=owner_labels(),
    )
    # A throwaway server: skipping initdb's fsyncs saves seconds per start.
    container.with_env("POSTGRES_INITDB_ARGS", "--no-sync")
    if loopback:
        # docker-py takes (address, host port); testcontainers types the value as a port.
        cast(dict[str, object], container.ports)[str(_PORT)] = (LOOPBACK, None)
    try:
        container.start()
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(_PORT))
    except BaseException:
        # Created but never ready (a failed wait, Ctrl-C): removed all the same.
        with contextlib.suppress(Exception):
            container.stop()
        raise
    url = URL.create(
        "postgresql+psycopg",
        username=ADMIN_USER,
        password=password,
        host=host,
        port=port,
        database="postgres",
    )
    return url, container.stop


def _configure_testcontainers(config: Any) -> bool:
    """Loopback and Ryuk settings (unless the user chose); True when traffic is loopback."""
    from testcontainers.core.config import ConnectionMode

    remote = os.environ.get("DOCKER_HOST", "").startswith(("tcp://", "ssh://", "http"))
    if not config.tc_host_override and not remote:
        config.tc_host_override = LOOPBACK
    if config.connection_mode_override is None:
        # Inside a container testcontainers would otherwise pick the bridge or gateway.
        config.connection_mode_override = ConnectionMode.docker_host
    if not _ryuk_chosen_by_user(config):
        config.ryuk_disabled = not _image_available(config.ryuk_image)
    return bool(config.tc_host_override in (LOOPBACK, "localhost", "::1"))


def _ryuk_chosen_by_user(config: Any) -> bool:
    return "TESTCONTAINERS_RYUK_DISABLED" in os.environ or "ryuk.disabled" in config.tc_properties


def _image_available(image: str) -> bool:
    """True when `image` is present or can be pulled (no registry: False, quickly)."""
    import docker

    try:
        client = docker.from_env(timeout=60)
    except docker.errors.DockerException:
        return False
    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
            return True
        except docker.errors.DockerException:
            return False
    except docker.errors.DockerException:
        return False
    finally:
        client.close()


def _list_containers(*labels: str) -> list[Any]:
    import docker

    client = docker.from_env(timeout=30)
    try:
        return list(client.containers.list(all=True, filters={"label": [LABEL, *labels]}))
    finally:
        client.close()


def remove_containers_of(pid: int) -> int:
    """Remove the containers this host's process `pid` started; how many. Never raises."""
    removed = 0
    with contextlib.suppress(Exception):
        own = (f"{HOST_LABEL}={socket.gethostname()}", f"{PID_LABEL}={pid}")
        for container in _list_containers(*own):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
                removed += 1
    return removed


def leftover_containers() -> list[Any]:
    """This host's harness containers whose owner process is gone."""
    found = _list_containers(f"{HOST_LABEL}={socket.gethostname()}")
    return [c for c in found if not _alive(c.labels.get(PID_LABEL, ""))]


def sweep_leftovers() -> int:
    """Remove the containers of runs that died without cleaning up; how many."""
    removed = 0
    with contextlib.suppress(Exception):
        for container in leftover_containers():
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
                removed += 1
    return removed


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _install_cleanup() -> None:
    """At exit and on SIGTERM/SIGHUP: remove this process's containers (once per process)."""
    global _cleanup_installed
    if _cleanup_installed:
        return
    _cleanup_installed = True
    atexit.register(_remove_own)
    if threading.current_thread() is threading.main_thread():
        for signum in _HANDLED_SIGNALS:
            previous = signal.getsignal(signum)
            signal.signal(signum, functools.partial(_on_signal, previous))


def _remove_own() -> None:
    remove_containers_of(os.getpid())


def _on_signal(previous: Any, signum: int, frame: FrameType | None) -> None:
    # A signal's default action ends the process without atexit: clean up first,
    # then let the previous disposition act (the default one: terminate by the signal).
    _remove_own()
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def main() -> int:
    """Remove leftover containers of this host; 1 when there were any."""
    try:
        leftovers = leftover_containers()
    except Exception as exc:  # no engine: nothing can be left on it
        print(f"tenantkit: no Docker engine to check for leftover containers ({exc})")
        return 0
    for container in leftovers:
        print(f"tenantkit: removing leftover container {container.short_id} {container.labels}")
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    return 1 if leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
