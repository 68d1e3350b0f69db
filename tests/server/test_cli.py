"""`tenantkit keys create-integration`: prints a key that the API then accepts;
`tenantkit serve`: its options reach the app."""

from __future__ import annotations

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
