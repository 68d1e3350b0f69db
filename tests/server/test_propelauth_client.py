"""PropelAuth's own Python client (propelauth-py) against the backend API over real HTTP.

The reference shapes, as the client parses them: a batch fetch answers a JSON
array (the client keys it by id, email or username itself), each user once,
unmatched keys left out; the user pages carry PropelAuth's envelope.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantkit.identity._backfill import point_propelauth_py_at
from tenantkit.testing import TwoOrgs

V1 = "/api/backend/v1"
GHOST = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def auth(app: FastAPI, integration_key: str) -> Iterator[Any]:
    """propelauth-py's client, pointed at the API served by uvicorn on 127.0.0.1."""
    from propelauth_py import init_base_auth

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        url = f"http://127.0.0.1:{port}"
        point_propelauth_py_at(url)
        yield init_base_auth(url, integration_key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_batch_fetches_parse_in_propelauth_py(auth: Any, orgs: TwoOrgs,
                                              client: TestClient) -> None:
    a, b = orgs.a, orgs.b
    ids = [a.owner_id, b.member_id, a.owner_id, GHOST]  # a duplicate and a miss
    by_id = auth.fetch_batch_user_metadata_by_user_ids(ids)
    assert set(by_id) == {a.owner_id, b.member_id}
    assert by_id[a.owner_id]["email"] == orgs.emails[a.owner_id]
    assert "org_id_to_org_info" not in by_id[a.owner_id]

    emails = [orgs.emails[a.admin_id], orgs.emails[a.admin_id].upper(), "nobody@example.com"]
    by_email = auth.fetch_batch_user_metadata_by_emails(emails, include_orgs=True)
    assert set(by_email) == {orgs.emails[a.admin_id]}
    info = by_email[orgs.emails[a.admin_id]]["org_id_to_org_info"]
    assert info[a.org_id]["user_role"] == "Admin"

    name = f"ada{uuid.uuid4().hex[:8]}"
    client.put(f"{V1}/user/{a.member_id}", json={"username": name})
    by_name = auth.fetch_batch_user_metadata_by_usernames([name, "nobody-at-all"])
    assert list(by_name) == [name] and by_name[name]["user_id"] == a.member_id


def test_the_raw_answer_is_an_array_of_distinct_users(client: TestClient,
                                                      orgs: TwoOrgs) -> None:
    a = orgs.a
    answer = client.post(f"{V1}/user/user_ids",
                         json={"user_ids": [a.owner_id, a.owner_id.upper(), GHOST]})
    assert answer.status_code == 200
    body = answer.json()
    assert isinstance(body, list) and [u["user_id"] for u in body] == [a.owner_id]
    assert client.post(f"{V1}/user/emails", json={"emails": ["no@example.com"]}).json() == []
    schema = client.get("/openapi.json").json()
    for path in ("user_ids", "emails", "usernames"):
        ok = schema["paths"][f"{V1}/user/{path}"]["post"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["type"] == "array"


def test_user_pages_parse_in_propelauth_py(auth: Any, orgs: TwoOrgs) -> None:
    page = auth.fetch_users_in_org(orgs.a.org_id, page_size=2)
    assert page["total_users"] == 4 and len(page["users"]) == 2
    assert page["has_more_results"] is True and page["current_page"] == 0
    query = auth.fetch_users_by_query(page_size=1, email_or_username=orgs.emails[orgs.b.owner_id])
    assert [u["user_id"] for u in query["users"]] == [orgs.b.owner_id]
