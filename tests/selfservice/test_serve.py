"""`tenantkit serve` mounts the end-user API beside the backend API."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, NullPool, create_engine

from tenantkit.db.signing import ENV_VAR, BindingKey, signing_state
from tenantkit.server.cli import SELF_SERVICE_PREFIX, serve_command
from tenantkit.testing import RunningServer, TestDatabase, provision_database, seed_two_orgs
from tenantkit.tokens import TokenIssuer
from tenantkit.tokens.issuer import DEFAULT_ISSUER


def test_serve_mounts_both_apis(tenantkit_db: TestDatabase, service_engine: Engine,
                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    signer = TokenIssuer.generate(issuer=DEFAULT_ISSUER)
    key = tmp_path / "key.pem"
    key.write_text(signer.private_key_pem)
    served: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_options: served.append(app))
    previous = signal.getsignal(signal.SIGTERM)

    def url(role: str) -> str:
        return tenantkit_db.url(role).render_as_string(hide_password=False)  # type: ignore[arg-type]

    try:
        result = CliRunner().invoke(serve_command, [
            "--database-url", url("owner"), "--service-url", url("service"),
            "--app-url", url("app"), "--app-role", tenantkit_db.roles.app,
            "--service-role", tenantkit_db.roles.service, "--key", str(key), "--no-key"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.output
    with service_engine.begin() as conn:
        orgs = seed_two_orgs(conn)
    token = signer.issue(user_id=orgs.shared_user_id)
    with TestClient(served.pop()) as client:
        mine = client.get(f"{SELF_SERVICE_PREFIX}/orgs",
                          headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200
        assert {o["org_id"] for o in mine.json()["orgs"]} >= {orgs.a.org_id, orgs.b.org_id}
        document = client.get(f"{SELF_SERVICE_PREFIX}/openapi.json").json()
        assert "/orgs/{org_id}/invites" in document["paths"]
        assert client.get("/api/backend/v1/custom_role_mappings").status_code == 401


def test_serve_on_a_new_database_signs_with_the_apps_key(
    tenantkit_server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --database-url` on a database it installs: signing on, the key of
    TENANTKIT_BINDING_SECRET registered, and the self-service API's engine signs."""
    import uvicorn

    db = provision_database(tenantkit_server)
    binding = BindingKey.generate("served")
    monkeypatch.setenv(ENV_VAR, binding.export())
    signer = TokenIssuer.generate(issuer=DEFAULT_ISSUER)
    key = tmp_path / "key.pem"
    key.write_text(signer.private_key_pem)
    served: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_options: served.append(app))
    previous = signal.getsignal(signal.SIGTERM)

    def url(role: str) -> str:
        return db.url(role).render_as_string(hide_password=False)  # type: ignore[arg-type]

    try:
        result = CliRunner().invoke(serve_command, [
            "--database-url", url("owner"), "--service-url", url("service"),
            "--app-url", url("app"), "--app-role", db.roles.app,
            "--service-role", db.roles.service, "--key", str(key), "--no-key"])
        assert result.exit_code == 0, result.output
        assert "key served registered" in result.output
        with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
            assert signing_state(conn) == (True, 1)
        service = create_engine(db.url("service"), poolclass=NullPool)
        with service.begin() as conn:
            orgs = seed_two_orgs(conn)
        service.dispose()
        token = signer.issue(user_id=orgs.shared_user_id)
        with TestClient(served.pop()) as client:
            mine = client.get(f"{SELF_SERVICE_PREFIX}/orgs",
                              headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200, mine.text
        assert {o["org_id"] for o in mine.json()["orgs"]} == {orgs.a.org_id, orgs.b.org_id}
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not tenantkit_server.throwaway:
            db.drop()
