"""`make container-image` where it cannot work: one line, and no failure.

As root, the script runs here as `nobody` (not root, so it may neither install
Docker nor start an engine, and the engine's socket is not theirs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "container-image.sh"


def _as_unprivileged(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "LANG": "C.UTF-8"}
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("no setpriv to drop root with")
        command = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _engine_answers_for_us() -> bool:
    done = _as_unprivileged(["docker", "version", "--format", "{{.Server.Version}}"]) \
        if shutil.which("docker") else None
    return done is not None and done.returncode == 0


def test_the_script_says_so_in_one_line_and_exits_3() -> None:
    if _engine_answers_for_us():
        pytest.skip("a Docker engine answers this user: the script would use it")
    done = _as_unprivileged([str(SCRIPT)])
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""  # no variables: the caller runs no container suite
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("== no container run: "), done.stderr


def test_a_docker_host_that_does_not_answer_is_reported_not_replaced() -> None:
    env_host = "unix:///nonexistent/tenantkit-test/docker.sock"
    done = subprocess.run([str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "DOCKER_HOST": env_host})
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [f"== no container run: DOCKER_HOST={env_host} "
                                        "does not answer"]


def test_make_container_image_then_succeeds_with_that_line() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    if _engine_answers_for_us():
        pytest.skip("a Docker engine answers this user")
    done = _as_unprivileged(["make", "--no-print-directory", "-s", "container-image"])
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("== no container run: "), done.stderr
