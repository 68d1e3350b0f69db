"""One real server: uvicorn on 127.0.0.1, spoken to over TCP with httpx."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import sessionmaker

from tenantkit import create_engine
from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier
from tests.conftest import NOTES_PER_ORG
from tests.web._support import bearer, build_app, mint


@pytest.fixture
def server_url(
    notes: TwoOrgs, tenantkit_db: TestDatabase, token_verifier: TokenVerifier
) -> Iterator[str]:
    engine = create_engine(tenantkit_db.url("app"), pool_size=2, max_overflow=0)
    app = build_app(token_verifier, sessions=sessionmaker(engine))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def test_real_server(server_url: str, notes: TwoOrgs, token_issuer: TokenIssuer) -> None:
    member = mint(token_issuer, notes.a.member_id, {notes.a.org_id: "Member"})
    admin_b = mint(token_issuer, notes.b.admin_id, {notes.b.org_id: "Admin"})
    with httpx.Client(base_url=server_url, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        rows = client.get(f"/org/{notes.a.org_id}/notes", headers=bearer(member)).json()
        assert len(rows) >= NOTES_PER_ORG
        assert {row["org_id"] for row in rows} == {notes.a.org_id}
        assert client.get(f"/org/{notes.b.org_id}/notes", headers=bearer(member)).status_code == 403
        response = client.get(f"/org/{notes.a.org_id}/notes")
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert (
            client.get(f"/org/{notes.b.org_id}/exact-admin", headers=bearer(admin_b)).json()[
                "bound_org_id"
            ]
            == notes.b.org_id
        )
