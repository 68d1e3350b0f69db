"""The notes API over HTTP: isolation, role checks, and the database having the last word."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from examples.notes.seed import Seed, memberships
from examples.notes.tests.conftest import NOTES_PER_ORG
from tenantkit import Management, OrgMemberInfo, TokenIssuer


def token_for(issuer: TokenIssuer, engine: Engine, user_id: str) -> dict[str, str]:
    """A token carrying the user's current memberships, as an issuer would sign them."""
    token = issuer.issue(user_id=user_id, orgs=memberships(engine, user_id))
    return {"Authorization": f"Bearer {token}"}


async def test_members_see_only_their_org(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer, notes_service_engine: Engine
) -> None:
    member = token_for(issuer, notes_service_engine, demo.acme.member_id)
    response = await client.get(f"/org/{demo.acme.org_id}/notes", headers=member)
    assert response.status_code == 200
    notes = response.json()
    assert len(notes) == NOTES_PER_ORG
    assert {n["org_id"] for n in notes} == {demo.acme.org_id}
    response = await client.get(f"/org/{demo.globex.org_id}/notes", headers=member)
    assert response.status_code == 403


async def test_the_shared_user_sees_each_org_in_turn(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer, notes_service_engine: Engine
) -> None:
    shared = token_for(issuer, notes_service_engine, demo.shared_id)
    for org in (demo.acme, demo.globex):
        notes = (await client.get(f"/org/{org.org_id}/notes", headers=shared)).json()
        assert {n["body"] for n in notes} == {f"{org.name} note {i}" for i in (1, 2, 3)}


async def test_members_write_and_only_admins_delete(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer, notes_service_engine: Engine
) -> None:
    org = demo.acme.org_id
    member = token_for(issuer, notes_service_engine, demo.acme.member_id)
    admin = token_for(issuer, notes_service_engine, demo.acme.admin_id)
    created = await client.post(f"/org/{org}/notes", json={"body": "hi"}, headers=member)
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["org_id"] == org
    assert note["author_id"] == demo.acme.member_id
    assert (
        await client.delete(f"/org/{org}/notes/{note['id']}", headers=member)
    ).status_code == 403
    assert (await client.delete(f"/org/{org}/notes/{note['id']}", headers=admin)).status_code == 204
    assert (await client.delete(f"/org/{org}/notes/{note['id']}", headers=admin)).status_code == 404


async def test_is_admin_is_exact_role_admin(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer, notes_service_engine: Engine
) -> None:
    acme, globex = demo.acme, demo.globex
    cases = [
        (acme.admin_id, acme.org_id, 200),
        (acme.owner_id, acme.org_id, 403),  # Owner ranks above Admin but is not Admin
        (acme.member_id, acme.org_id, 403),
        (demo.shared_id, globex.org_id, 200),
        (demo.shared_id, acme.org_id, 403),
        (globex.admin_id, acme.org_id, 403),  # an Admin elsewhere
    ]
    for user_id, org_id, expected in cases:
        headers = token_for(issuer, notes_service_engine, user_id)
        response = await client.get(f"/org/{org_id}/is-admin", headers=headers)
        assert response.status_code == expected, (user_id, org_id, response.text)
    assert (await client.get(f"/org/{acme.org_id}/is-admin")).status_code == 401


async def test_removed_member_loses_access_with_the_same_token(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer, notes_service_engine: Engine
) -> None:
    org = demo.acme.org_id
    member = token_for(issuer, notes_service_engine, demo.acme.member_id)
    assert len((await client.get(f"/org/{org}/notes", headers=member)).json()) == NOTES_PER_ORG
    with notes_service_engine.begin() as conn:
        Management(conn).members.remove(org, demo.acme.member_id)
    # The token still lists the org, so the middleware lets it through; the
    # database no longer counts the user as a member.
    response = await client.get(f"/org/{org}/notes", headers=member)
    assert response.status_code == 200
    assert response.json() == []
    response = await client.post(f"/org/{org}/notes", json={"body": "x"}, headers=member)
    assert response.status_code == 403


async def test_a_stale_admin_claim_does_not_delete(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer, notes_service_engine: Engine
) -> None:
    # A token still saying Admin after a demotion: the API check passes, the policy does not.
    org = demo.acme.org_id
    admin = token_for(issuer, notes_service_engine, demo.acme.admin_id)
    notes = (await client.get(f"/org/{org}/notes", headers=admin)).json()
    with notes_service_engine.begin() as conn:
        Management(conn).members.change_role(org, demo.acme.admin_id, "Member")
    response = await client.delete(f"/org/{org}/notes/{notes[0]['id']}", headers=admin)
    assert response.status_code == 404  # the row is invisible to DELETE for a Member
    assert len((await client.get(f"/org/{org}/notes", headers=admin)).json()) == NOTES_PER_ORG


async def test_bad_tokens_are_401(client: httpx.AsyncClient, demo: Seed) -> None:
    for headers in ({}, {"Authorization": "Bearer e30.e30.e30"}):
        response = await client.get(f"/org/{demo.acme.org_id}/notes", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_me_reports_the_token(
    client: httpx.AsyncClient, demo: Seed, issuer: TokenIssuer
) -> None:
    token = issuer.issue(
        user_id=demo.shared_id, orgs=[OrgMemberInfo(org_id=demo.acme.org_id, user_role="Member")]
    )
    body = (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert body["orgs"] == {demo.acme.org_id: "Member"}
