"""`tenantkit keys create-integration`: prints a key that the API then accepts;
`tenantkit serve`: its options reach the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantkit.server.cli import create_integration_command, serve_command
from tenantkit.testing import TestDatabase


def test_create_integration_prints_a_working_key(api_db: TestDatabase, app: FastAPI) -> None:
    url = api_db.url("service").render_as_string(hide_password=False)
    result = CliRunner().invoke(create_integration_command, ["--database-url", url,
                                                             "--name", "cli"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert key.startswith("tk_int_")
    response = TestClient(app).get("/api/backend/v1/custom_role_mappings",
                                   headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_create_integration_needs_a_database() -> None:
    result = CliRunner().invoke(create_integration_command, [], env={})
    assert result.exit_code != 0


def test_serve_passes_the_body_limit_to_the_app(
    api_db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    import uvicorn

    from tenantkit.server.guard import DEFAULT_MAX_BODY_BYTES, RequestGuard

    served: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_options: served.append(app))
    previous = signal.getsignal(signal.SIGTERM)
    urls = ["--database-url", api_db.url("owner").render_as_string(hide_password=False),
            "--service-url", api_db.url("service").render_as_string(hide_password=False),
            "--app-role", api_db.roles.app, "--service-role", api_db.roles.service,
            "--key", str(tmp_path / "none.pem"), "--no-key"]
    try:
        for extra, limit in (([], DEFAULT_MAX_BODY_BYTES), (["--max-body-bytes", "4096"], 4096)):
            result = CliRunner().invoke(serve_command, [*urls, *extra])
            assert result.exit_code == 0, result.output
            [guard] = [m for m in served.pop().user_middleware
                       if m.cls is RequestGuard]  # type: ignore[comparison-overlap]
            assert guard.kwargs["max_body_bytes"] == limit
        result = CliRunner().invoke(serve_command, [*urls, "--max-body-bytes", "0"])
        assert result.exit_code != 0
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.nodb
def test_serve_does_not_import_the_test_harness() -> None:
    probe = (
        "import sys, tenantkit.cli, tenantkit.server.cli, tenantkit.server._embedded\n"
        "print(sorted(m for m in sys.modules if m == 'pytest' or m.startswith('tenantkit.testing')"
        " or m.startswith('_pytest')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.nodb
@pytest.mark.slow
def test_serve_without_a_database_url_starts_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    import uvicorn

    served: list[int] = []

    def serve(app: FastAPI, **_options: object) -> None:
        # While the embedded server still runs: the printed key works against it.
        key = next(line.split(": ", 1)[1] for line in output if line.startswith("integration"))
        with TestClient(app) as client:
            response = client.get("/api/backend/v1/custom_role_mappings",
                                  headers={"Authorization": f"Bearer {key}"})
        served.append(response.status_code)

    output: list[str] = []
    monkeypatch.setattr(uvicorn, "run", serve)
    monkeypatch.setattr("click.echo", lambda message="", **_kw: output.append(str(message)))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        result = CliRunner().invoke(serve_command, ["--key", str(tmp_path / "none.pem")])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, (result.output, result.exception)
    assert served == [200]
