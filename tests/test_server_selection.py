"""How the test harness picks a PostgreSQL (Docker is absent here, so this is unit-tested)."""

from __future__ import annotations

import pytest

from tenantkit.testing.servers import ServerChoice, choose_server

pytestmark = pytest.mark.nodb


class Probes:
    def __init__(self, docker: bool = False, embedded: bool = False, local: str | None = None):
        self.calls: list[str] = []
        self._docker, self._embedded, self._local = docker, embedded, local

    def docker(self) -> bool:
        self.calls.append("docker")
        return self._docker

    def embedded(self) -> bool:
        self.calls.append("embedded")
        return self._embedded

    def local(self) -> str | None:
        self.calls.append("local")
        return self._local

    def choose(self, env: dict[str, str]) -> ServerChoice:
        return choose_server(
            env,
            docker_answers=self.docker,
            embedded_available=self.embedded,
            local_bindir=self.local,
        )


def test_url_wins_and_nothing_is_probed() -> None:
    probes = Probes(docker=True, embedded=True, local="/usr/bin")
    choice = probes.choose({"TENANTKIT_TEST_DATABASE_URL": "postgresql://u@h/db"})
    assert choice == ServerChoice("url", "postgresql://u@h/db")
    assert probes.calls == []


def test_explicit_bindir_comes_next() -> None:
    probes = Probes(docker=True, embedded=True)
    choice = probes.choose({"TENANTKIT_TEST_PG_BINDIR": "/usr/lib/postgresql/15/bin"})
    assert choice == ServerChoice("local", "/usr/lib/postgresql/15/bin")
    assert probes.calls == []


def test_docker_when_an_engine_answers() -> None:
    probes = Probes(docker=True, embedded=True)
    choice = probes.choose({"TENANTKIT_TEST_DOCKER_IMAGE": "postgres:16"})
    assert choice == ServerChoice("docker", "postgres:16")
    assert probes.calls == ["docker"]


def test_embedded_when_no_docker() -> None:
    probes = Probes(docker=False, embedded=True, local="/usr/bin")
    assert probes.choose({}).kind == "embedded"
    assert probes.calls == ["docker", "embedded"]


def test_local_binaries_last() -> None:
    probes = Probes(local="/usr/lib/postgresql/15/bin")
    assert probes.choose({}) == ServerChoice("local", "/usr/lib/postgresql/15/bin")
    assert probes.calls == ["docker", "embedded", "local"]


def test_nothing_available_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="TENANTKIT_TEST_DATABASE_URL"):
        Probes().choose({"TENANTKIT_TEST_DATABASE_URL": "  "})


def test_docker_probe_is_false_without_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from tenantkit.testing import servers

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert servers.docker_engine_answers() is False
