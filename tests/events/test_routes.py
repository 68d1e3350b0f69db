"""The webhook endpoints REST API: integration-key auth, secrets shown once, status."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit.server import create_app
from tenantkit.server.cli import create_integration_key
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.events.conftest import newest_event_id

V1 = "/api/backend/v1"
GHOST = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def api(ev_service: Engine, events_db: TestDatabase) -> Iterator[TestClient]:
    key = create_integration_key(events_db.url("service"), "events tests")
    with TestClient(create_app(ev_service),
                    headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def test_endpoint_lifecycle_over_the_api(
    api: TestClient, ev_orgs: TwoOrgs, events_db: TestDatabase,
    monkeypatch: pytest.MonkeyPatch, events_key: str,
) -> None:
    monkeypatch.setenv("TENANTKIT_EVENTS_KEY", events_key)
    created = api.post(f"{V1}/webhook_endpoints", json={
        "url": "https://billing.example.com/hooks", "event_types": ["org.created"],
        "org_id": ev_orgs.a.org_id, "description": "billing"})
    assert created.status_code == 200, created.text
    body = created.json()
    endpoint_id, secret = body["endpoint_id"], body["secret"]
    assert secret.startswith("whsec_")
    assert body["status"] == body["status"] | {"state": "ok", "pending_events": 0,
                                               "last_event_id": newest_event_id(events_db)}
    # Never again: not in the list, not in the endpoint, not in the database as is.
    listed = api.get(f"{V1}/webhook_endpoints").json()["webhook_endpoints"]
    assert [x["endpoint_id"] for x in listed] == [endpoint_id]
    fetched = api.get(f"{V1}/webhook_endpoints/{endpoint_id}").json()
    assert secret not in str(listed) + str(fetched) and "secret" not in fetched
    with psycopg.connect(events_db.conninfo("admin")) as conn:
        row = conn.execute("SELECT secret FROM tenantkit.webhook_endpoints").fetchone()
    assert row is not None and row[0].startswith("tkenc1:") and secret not in row[0]

    updated = api.put(f"{V1}/webhook_endpoints/{endpoint_id}",
                      json={"org_id": None, "enabled": False}).json()
    assert (updated["org_id"], updated["enabled"], updated["event_types"]) == (
        None, False, ["org.created"])
    assert updated["status"]["state"] == "disabled"
    rotated = api.post(f"{V1}/webhook_endpoints/{endpoint_id}/rotate_secret",
                       json={"overlap_seconds": 3600}).json()
    assert rotated["secret"] != secret and rotated["previous_secret_expires_at"] is not None
    assert api.get(f"{V1}/webhook_endpoints/{endpoint_id}/dead_letters").json() == {
        "dead_letters": []}
    assert api.post(f"{V1}/webhook_endpoints/{endpoint_id}/replay", json={}).json() == {
        "queued": 0}
    assert api.delete(f"{V1}/webhook_endpoints/{endpoint_id}").json() == {}
    assert api.get(f"{V1}/webhook_endpoints/{endpoint_id}").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://billing.example.com/hooks"}, "url"),
    ({"url": "https://user:pw@billing.example.com/"}, "url"),
    ({"url": "https://billing.example.com/#frag"}, "url"),
    ({"url": "ftp://billing.example.com/"}, "url"),
    ({"url": "https://billing.example.com/ x"}, "url"),
    ({"url": "http://localhost.evil.example/"}, "url"),
    ({"url": "https://ok.example.com/", "event_types": ["org.exploded"]}, "event_types"),
    ({"url": "https://ok.example.com/", "secret": "not-a-secret"}, "secret"),
    ({"url": "https://ok.example.com/", "secret": "whsec_c2hvcnQ="}, "secret"),
    ({"url": "https://ok.example.com/", "org_id": "nope"}, "org_id"),
])
def test_bad_endpoints_are_refused_naming_the_field(
    api: TestClient, body: dict[str, object], field: str
) -> None:
    response = api.post(f"{V1}/webhook_endpoints", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["fields"]


def test_unknown_endpoints_and_bad_replays(api: TestClient) -> None:
    assert api.get(f"{V1}/webhook_endpoints/{GHOST}").status_code == 404
    assert api.put(f"{V1}/webhook_endpoints/{GHOST}", json={"enabled": True}).status_code == 404
    assert api.delete(f"{V1}/webhook_endpoints/{GHOST}").status_code == 404
    assert api.post(f"{V1}/webhook_endpoints/{GHOST}/replay", json={}).status_code == 404
    created = api.post(f"{V1}/webhook_endpoints",
                       json={"url": "http://127.0.0.1:9/hook"}).json()
    endpoint_id = created["endpoint_id"]
    ahead = created["status"]["last_event_id"] + 100
    refused = api.post(f"{V1}/webhook_endpoints/{endpoint_id}/replay",
                       json={"from_event_id": ahead})
    assert refused.status_code == 400 and "from_event_id" in refused.json()["fields"]
    refused = api.post(f"{V1}/webhook_endpoints/{endpoint_id}/replay", json={"event_ids": [1]})
    assert refused.status_code == 400 and "event_ids" in refused.json()["fields"]


def test_the_database_refuses_bad_urls_whoever_writes_them(events_db: TestDatabase) -> None:
    """The CHECK constraint holds for a direct insert by the service role too."""
    with psycopg.connect(events_db.conninfo("service")) as conn:
        for url in ("http://example.com/", "https://a@b.example/", "javascript:alert(1)",
                    "https://x.example/#f", "http://127.0.0.1.evil.example/"):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("INSERT INTO tenantkit.webhook_endpoints (url, secret) "
                             "VALUES (%s, 'whsec_x')", (url,))
            conn.rollback()


def test_stored_without_a_key_and_unreadable_for_the_wrong_key(
    api: TestClient, events_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantkit.events import SecretBox
    from tenantkit.events._secretbox import SecretUnavailable, new_key

    monkeypatch.delenv("TENANTKIT_EVENTS_KEY", raising=False)
    secret = api.post(f"{V1}/webhook_endpoints",
                      json={"url": "https://plain.example.com/"}).json()["secret"]
    with psycopg.connect(events_db.conninfo("admin")) as conn:
        row = conn.execute("SELECT secret FROM tenantkit.webhook_endpoints").fetchone()
    assert row is not None and row[0] == secret  # only the service role can read it
    sealed = SecretBox.from_text(new_key()).seal(secret, GHOST)
    with pytest.raises(SecretUnavailable):
        SecretBox.from_text(new_key()).open(sealed, GHOST)
    keys = SecretBox.from_text(f"{new_key()},{new_key()}")
    old = SecretBox(keys.keys[1:])
    assert keys.open(old.seal(secret, GHOST), GHOST) == secret  # a rotated-out key still opens
    with pytest.raises(SecretUnavailable):  # bound to its endpoint: not movable to another
        keys.open(old.seal(secret, GHOST), "11111111-1111-4111-8111-111111111111")
