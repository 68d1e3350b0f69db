"""Verified inbound webhooks: PropelAuth (Svix-signed) and WorkOS, applied exactly once, in order.

Deliveries are signed by Svix's own code (PropelAuth) and by WorkOS's documented
scheme (verified by the WorkOS SDK); forged, stale, replayed and out-of-order
deliveries change nothing; a removal takes effect on the next transaction.
Two orgs are always present (the seeded `notes` orgs), so "nothing changed" is
checked against real rows of another tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from tenantkit.identity import IdentityResolver, ResolvingVerifier
from tenantkit.identity.webhooks import (
    IdentitySync,
    SvixSignature,
    WebhookReceiver,
    WorkOSSignature,
    webhook_app,
)
from tenantkit.identity.webhooks.fastapi import webhook_router
from tenantkit.testing import TestDatabase, TwoOrgs
from tenantkit.tokens import OrgMemberInfo, TokenIssuer, TokenVerifier, WorkOSClaims
from tests.identity._support import WORKOS_ISSUER, workos_id, workos_token
from tests.identity._webhooks import (
    SVIX_SECRET,
    WORKOS_SECRET,
    svix_delivery,
    svix_msg_id,
    workos_delivery,
    workos_event,
)
from tests.identity.test_seam import get, notes_app

ROLES = {"admin": "Admin", "member": "Member"}


async def post(app: Any, delivery: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = delivery
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/", content=body, headers=headers)


@pytest.fixture
def workos_resolver(service_engine: Engine) -> IdentityResolver:
    return IdentityResolver(provider="workos", engine=service_engine)


@pytest.fixture
def workos_hooks(service_engine: Engine, workos_resolver: IdentityResolver) -> Any:
    sync = IdentitySync(service_engine, provider="workos", roles=ROLES, resolver=workos_resolver)
    return webhook_app(WebhookReceiver(WorkOSSignature(WORKOS_SECRET), sync))


@pytest.fixture
def propelauth_hooks(service_engine: Engine) -> Any:
    sync = IdentitySync(service_engine, provider="propelauth", same_ids=True, roles=ROLES)
    return webhook_app(WebhookReceiver(SvixSignature(SVIX_SECRET), sync))


@pytest.fixture
def oracle(tenantkit_db: TestDatabase) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(tenantkit_db.conninfo("admin"), autocommit=True) as conn:
        yield conn


def state(oracle: psycopg.Connection[Any]) -> Any:
    """Everything the sync could touch, read outside RLS."""
    return [
        oracle.execute(f"SELECT * FROM tenantkit.{table} ORDER BY 1, 2").fetchall()
        for table in ("orgs", "users", "memberships", "user_identities", "identity_events",
                      "identity_versions")
    ]


def membership(oracle: psycopg.Connection[Any], org: str, user: str) -> Any:
    return oracle.execute(
        "SELECT m.role, m.status FROM tenantkit.memberships AS m"
        " JOIN tenantkit.orgs AS o USING (org_id)"
        " JOIN tenantkit.user_identities AS i USING (user_id)"
        " WHERE o.external_id = %s AND i.external_id = %s",
        (org, user),
    ).fetchone()


class WorkOSWorld:
    """One WorkOS org and user, created through webhooks."""

    def __init__(self) -> None:
        self.org, self.user = workos_id("org"), workos_id("user")
        self.t = time.time() - 60

    def at(self, offset: float) -> float:
        return self.t + offset

    def org_created(self, at: float = 0) -> dict[str, Any]:
        return workos_event("organization.created",
                            {"object": "organization", "id": self.org, "name": "Initech"},
                            at=self.at(at))

    def user_created(self, at: float = 0) -> dict[str, Any]:
        return workos_event("user.created", {
            "object": "user", "id": self.user, "email": f"{self.user.lower()}@example.com",
            "first_name": "Peter", "last_name": "Gibbons", "email_verified": True,
        }, at=self.at(at))

    def membership(self, event: str, at: float, role: str = "member",
                   status: str = "active") -> dict[str, Any]:
        return workos_event(f"organization_membership.{event}", {
            "object": "organization_membership", "id": "om_" + self.user[5:],
            "organization_id": self.org, "user_id": self.user, "status": status,
            "role": {"slug": role},
        }, at=self.at(at))


async def test_workos_sync_end_to_end_and_removal_on_the_next_transaction(
    notes: TwoOrgs, workos_hooks: Any, workos_resolver: IdentityResolver,
    token_issuer: TokenIssuer, app_engine: Engine, oracle: psycopg.Connection[Any],
) -> None:
    w = WorkOSWorld()
    for payload in (w.org_created(1), w.user_created(1), w.membership("created", 2)):
        response = await post(workos_hooks, workos_delivery(payload))
        assert response.json() == {"outcome": "applied"}, response.text
    org_id = oracle.execute(
        "SELECT org_id::text FROM tenantkit.orgs WHERE external_id = %s", (w.org,)
    ).fetchone()[0]
    oracle.execute("INSERT INTO public.notes (org_id, body) VALUES (%s, 'synced')", (org_id,))
    verifier = ResolvingVerifier(
        TokenVerifier(issuer=WORKOS_ISSUER, jwks=token_issuer.jwks(), claims=WorkOSClaims()),
        workos_resolver,
    )
    app = notes_app(verifier, app_engine)
    token = workos_token(token_issuer, w.user, w.org)
    seen = (await get(app, token)).json()
    assert seen["orgs"] == [org_id] and seen["count"] == 1  # its own note, none of A's or B's

    removed = await post(workos_hooks, workos_delivery(w.membership("deleted", 3)))
    assert removed.json() == {"outcome": "applied"}
    after = (await get(app, token)).json()
    assert after["bound"] is not None  # the same token still binds (ids are cached) ...
    assert after["count"] == 0  # ... and the database refuses it: the removal held at once


async def test_workos_forged_stale_and_replayed_change_nothing(
    notes: TwoOrgs, workos_hooks: Any, oracle: psycopg.Connection[Any],
) -> None:
    w = WorkOSWorld()
    before = state(oracle)
    forged = workos_delivery(w.org_created(), secret="not-the-secret")
    assert (await post(workos_hooks, forged)).status_code == 401
    body, headers = workos_delivery(w.org_created())
    tampered = body.replace(b"Initech", b"Initrode")
    assert (await post(workos_hooks, (tampered, headers))).status_code == 401
    stale = workos_delivery(w.org_created(), signed_at=time.time() - 600)
    assert (await post(workos_hooks, stale)).status_code == 401
    assert (await post(workos_hooks, (body, {}))).status_code == 401  # unsigned
    assert state(oracle) == before

    assert (await post(workos_hooks, (body, headers))).json() == {"outcome": "applied"}
    applied = state(oracle)
    replay = await post(workos_hooks, (body, headers))
    assert replay.json() == {"outcome": "duplicate"}
    resigned = await post(workos_hooks, workos_delivery(json.loads(body)))
    assert resigned.json() == {"outcome": "duplicate"}  # same event id, fresh signature
    assert state(oracle) == applied


async def test_workos_out_of_order_never_resurrects_a_removed_membership(
    notes: TwoOrgs, workos_hooks: Any, oracle: psycopg.Connection[Any], service_engine: Engine,
) -> None:
    w = WorkOSWorld()
    for payload in (w.org_created(), w.user_created()):
        await post(workos_hooks, workos_delivery(payload))
    created = w.membership("created", 1)
    # The removal (t=3) arrives first, then the older creation (t=1) and update (t=2).
    assert (await post(workos_hooks, workos_delivery(w.membership("deleted", 3)))).json() == {
        "outcome": "applied"  # nothing to remove yet; the removal's time is what counts
    }
    for late in (created, w.membership("updated", 2, role="admin")):
        assert (await post(workos_hooks, workos_delivery(late))).json() == {"outcome": "stale"}
    assert membership(oracle, w.org, w.user) is None
    # At the removal's exact time, an upsert still loses (fail closed).
    tie = w.membership("created", 3)
    assert (await post(workos_hooks, workos_delivery(tie))).json() == {"outcome": "stale"}
    # A newer re-add is a real change and applies.
    readd = w.membership("created", 4, role="admin")
    assert (await post(workos_hooks, workos_delivery(readd))).json() == {"outcome": "applied"}
    assert membership(oracle, w.org, w.user) == ("Admin", "active")
    inactive = w.membership("updated", 5, status="inactive")
    await post(workos_hooks, workos_delivery(inactive))
    assert membership(oracle, w.org, w.user) == ("Member", "inactive")

    # The protection switched off: without the version row, the late creation resurrects.
    await post(workos_hooks, workos_delivery(w.membership("deleted", 6)))
    with service_engine.begin() as conn:
        conn.execute(text("DELETE FROM tenantkit.identity_versions WHERE object_key = :k"),
                     {"k": f"{w.org} {w.user}"})
    again = dict(created, id="event_REPLAYEDWITHNEWID")
    assert (await post(workos_hooks, workos_delivery(again))).json() == {"outcome": "applied"}
    assert membership(oracle, w.org, w.user) == ("Member", "active")


async def test_a_membership_before_its_org_is_retried_not_lost(
    notes: TwoOrgs, workos_hooks: Any, oracle: psycopg.Connection[Any],
) -> None:
    w = WorkOSWorld()
    early = workos_delivery(w.membership("created", 2))
    response = await post(workos_hooks, early)
    assert response.status_code == 409  # the provider retries
    for payload in (w.org_created(), w.user_created()):
        await post(workos_hooks, workos_delivery(payload))
    assert (await post(workos_hooks, early)).json() == {"outcome": "applied"}
    assert membership(oracle, w.org, w.user) == ("Member", "active")


async def test_bad_payloads_are_400_and_change_nothing(
    notes: TwoOrgs, workos_hooks: Any, oracle: psycopg.Connection[Any],
) -> None:
    w = WorkOSWorld()
    before = state(oracle)
    for payload in (
        {**w.org_created(), "created_at": "yesterday"},
        {**w.org_created(), "data": []},
        w.membership("created", 1, role=""),
    ):
        assert (await post(workos_hooks, workos_delivery(payload))).status_code == 400
    body, _ = workos_delivery(w.org_created())
    duplicate_keys = body[:-1] + b', "id": "event_OTHER"}'
    stamp = str(int(time.time() * 1000))
    digest = hmac.new(WORKOS_SECRET.encode(), stamp.encode() + b"." + duplicate_keys,
                      hashlib.sha256).hexdigest()
    signed = (duplicate_keys, {"workos-signature": f"t={stamp}, v1={digest}"})
    assert (await post(workos_hooks, signed)).status_code == 400
    assert state(oracle) == before


async def test_propelauth_via_svix(
    notes: TwoOrgs, propelauth_hooks: Any, oracle: psycopg.Connection[Any],
    token_issuer: TokenIssuer, token_verifier: TokenVerifier, app_engine: Engine,
) -> None:
    org, user = str(uuid.uuid4()), str(uuid.uuid4())
    t = time.time() - 60
    events = [
        ({"event_type": "org.created", "org_id": org, "name": "Hooli"}, t),
        ({"event_type": "user.created", "user_id": user, "email": f"{user[:8]}@example.com",
          "email_confirmed": True, "first_name": "Gavin"}, t),
        ({"event_type": "user.added_to_org", "org_id": org, "user_id": user, "role": "Member"},
         t + 2),
        ({"event_type": "user.role_changed_within_org", "org_id": org, "user_id": user,
          "old_role": "Member", "new_role": "Admin"}, t + 4),
    ]
    for payload, at in events:
        response = await post(propelauth_hooks, svix_delivery(payload, at=at))
        assert response.json() == {"outcome": "applied"}, response.text
    row = oracle.execute(
        "SELECT role FROM tenantkit.memberships WHERE org_id = %s AND user_id = %s", (org, user)
    ).fetchone()
    assert row == ("Admin",)  # same ids: PropelAuth's tokens bind without any mapping
    oracle.execute("INSERT INTO public.notes (org_id, body) VALUES (%s, 'hooli')", (org,))
    app = notes_app(token_verifier, app_engine)
    token = token_issuer.issue(user_id=user, orgs=[OrgMemberInfo(org, "Admin")],
                               active_org_id=org)
    assert (await get(app, token)).json()["orgs"] == [org]

    removal = svix_delivery(
        {"event_type": "user.removed_from_org", "org_id": org, "user_id": user}, at=t + 6
    )
    assert (await post(propelauth_hooks, removal)).json() == {"outcome": "applied"}
    assert (await get(app, token)).json()["orgs"] == []
    # Replayed (Svix retries sign again with a new timestamp; the message id is the same).
    before = state(oracle)
    body, headers = removal
    again = svix_delivery(json.loads(body), msg_id=headers["svix-id"])
    assert (await post(propelauth_hooks, again)).json() == {"outcome": "duplicate"}
    # A late add (older message id) never resurrects the membership.
    late = svix_delivery(
        {"event_type": "user.added_to_org", "org_id": org, "user_id": user, "role": "Owner"},
        msg_id=svix_msg_id(t + 3),
    )
    assert (await post(propelauth_hooks, late)).json() == {"outcome": "stale"}
    after = state(oracle)
    assert after[:4] == before[:4]  # orgs, users, memberships, links: unchanged

    forged = svix_delivery({"event_type": "user.added_to_org", "org_id": org, "user_id": user,
                            "role": "Owner"}, secret="whsec_" + "A" * 43)
    stale = svix_delivery({"event_type": "org.deleted", "org_id": org},
                          signed_at=time.time() - 3600)
    for refused in (forged, stale):
        assert (await post(propelauth_hooks, refused)).status_code == 401
    assert state(oracle) == after
    # An org deleted is never recreated by a later event (ids are never reused).
    gone = svix_delivery({"event_type": "org.deleted", "org_id": org}, at=t + 8)
    assert (await post(propelauth_hooks, gone)).json() == {"outcome": "applied"}
    back = svix_delivery({"event_type": "org.created", "org_id": org, "name": "Hooli"}, at=t + 9)
    assert (await post(propelauth_hooks, back)).json() == {"outcome": "ignored"}
    assert oracle.execute("SELECT 1 FROM tenantkit.orgs WHERE org_id = %s", (org,)).fetchone() \
        is None


async def test_the_fastapi_router_and_method_and_size_limits(
    notes: TwoOrgs, service_engine: Engine,
) -> None:
    sync = IdentitySync(service_engine, provider="workos", roles=ROLES)
    receiver = WebhookReceiver(WorkOSSignature(WORKOS_SECRET), sync, max_bytes=2048)
    api = FastAPI()
    api.include_router(webhook_router(receiver), prefix="/hooks")
    w = WorkOSWorld()
    body, headers = workos_delivery(w.org_created())
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post("/hooks/", content=body, headers=headers)
        assert ok.json() == {"outcome": "applied"}
        big = await client.post("/hooks/", content=b"x" * 4096, headers=headers)
        assert big.status_code == 413
    plain = webhook_app(receiver)
    transport = httpx.ASGITransport(app=plain)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/")).status_code == 405
        assert (await client.post("/", content=b"x" * 4096, headers=headers)).status_code == 413
        repeated = [("workos-signature", headers["workos-signature"])] * 2
        assert (await client.post("/", content=body, headers=repeated)).status_code == 400


async def test_an_event_the_database_refuses_is_400_and_leaves_nothing(
    notes: TwoOrgs, workos_hooks: Any, oracle: psycopg.Connection[Any],
) -> None:
    w = WorkOSWorld()
    taken = notes.emails[notes.a.owner_id]
    payload = w.user_created()
    payload["data"]["email"] = taken
    before = state(oracle)
    response = await post(workos_hooks, workos_delivery(payload))
    assert response.status_code == 400 and "23505" in response.json()["message"]
    assert state(oracle) == before  # not even the event id: a fixed retry can apply
