"""`Idempotency-Key` on POSTs: a retry gets the same answer and makes no duplicate."""

from __future__ import annotations

import uuid

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantkit.server.cli import create_integration_key
from tenantkit.testing import TestDatabase

V1 = "/api/backend/v1"


def _count(api_db: TestDatabase, name: str) -> int:
    with psycopg.connect(api_db.conninfo("admin")) as conn:
        row = conn.execute("SELECT count(*) FROM tenantkit.orgs WHERE name = %s",
                           (name,)).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_retry_gets_the_same_org_and_no_duplicate(client: TestClient,
                                                    api_db: TestDatabase) -> None:
    name, key = f"idem {uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    first = client.post(f"{V1}/org/", json={"name": name}, headers={"Idempotency-Key": key})
    again = client.post(f"{V1}/org/", json={"name": name}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count(api_db, name) == 1
    # the same key for another request is refused, not answered with the first's
    other = client.post(f"{V1}/org/", json={"name": name + "!"}, headers={"Idempotency-Key": key})
    assert other.status_code == 409 and "different request" in other.json()["message"]
    # without the header, every POST runs
    client.post(f"{V1}/org/", json={"name": name})
    assert _count(api_db, name) == 2


def test_keys_are_per_integration_key(app: FastAPI, client: TestClient,
                                      api_db: TestDatabase) -> None:
    name, key = f"scoped {uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    mine = client.post(f"{V1}/org/", json={"name": name}, headers={"Idempotency-Key": key})
    second_key = create_integration_key(api_db.url("service"), "another")
    theirs = TestClient(app).post(f"{V1}/org/", json={"name": name}, headers={
        "Idempotency-Key": key, "Authorization": f"Bearer {second_key}"})
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["org_id"] != mine.json()["org_id"]  # never another key's answer
    assert _count(api_db, name) == 2


def test_errors_are_answered_again_and_bad_keys_refused(client: TestClient,
                                                        app: FastAPI) -> None:
    key = uuid.uuid4().hex
    bad = client.post(f"{V1}/org/", json={"name": " "}, headers={"Idempotency-Key": key})
    again = client.post(f"{V1}/org/", json={"name": " "}, headers={"Idempotency-Key": key})
    assert bad.status_code == again.status_code == 400 and again.json() == bad.json()
    doubled = client.post(f"{V1}/org/", json={"name": "x"},
                          headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert doubled.status_code == 400
    assert client.post(f"{V1}/org/", json={"name": "x"},
                       headers={"Idempotency-Key": "x" * 256}).status_code == 400
    anonymous = TestClient(app).post(f"{V1}/org/", json={"name": "x"},
                                     headers={"Idempotency-Key": key})
    assert anonymous.status_code == 401


def test_a_secret_in_the_answer_is_never_kept(client: TestClient, api_db: TestDatabase) -> None:
    users = client.post(f"{V1}/user/", json={"email": f"{uuid.uuid4().hex[:8]}@example.com"})
    key = uuid.uuid4().hex
    body = {"user_id": users.json()["user_id"], "duration_in_minutes": 5}
    first = client.post(f"{V1}/access_token", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 200 and first.json()["access_token"]
    again = client.post(f"{V1}/access_token", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 409 and "secret" in again.json()["message"]
    with psycopg.connect(api_db.conninfo("admin")) as conn:
        row = conn.execute("SELECT status, response FROM tenantkit.idempotency_keys "
                           "WHERE idempotency_key = %s", (key,)).fetchone()
    assert row == (200, None)
