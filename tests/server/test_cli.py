"""`tenantkit keys create-integration`: prints a key that the API then accepts."""

from __future__ import annotations

from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantkit.server.cli import create_integration_command
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
