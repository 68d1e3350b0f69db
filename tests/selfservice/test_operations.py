"""Every end-user operation over HTTP: its happy path, the database's refusal for a
role lacking the permission, and 404 for another org, on two seeded orgs.

The tokens claim no org at all (see conftest): every yes and no here comes from
PostgreSQL's policies on tenantkit's own tables, bound to the requesting user.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit.orgs import Actor, Management
from tenantkit.testing import TwoOrgs

from .conftest import Headers, RecordingSender

Superuser = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def orgs(make_seed: Callable[[], TwoOrgs]) -> TwoOrgs:
    return make_seed()


@pytest.fixture
def service(service_engine: Engine) -> Callable[[], contextmanager[Management]]:  # type: ignore[type-arg]
    @contextmanager
    def open_() -> Iterator[Management]:
        with service_engine.begin() as conn:
            yield Management(conn, Actor.service())
    return open_  # type: ignore[return-value]


def role_of(superuser: Superuser, org_id: str, user_id: str) -> str | None:
    row = superuser.execute("SELECT role FROM tenantkit.memberships WHERE org_id = %s AND "
                            "user_id = %s", (org_id, user_id)).fetchone()
    return None if row is None else str(row[0])


def refused(response: object, status: int) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"] and body["message"]


# --- my orgs, switch, create -------------------------------------------------------


def test_my_orgs_come_from_the_database(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    shared = orgs.shared_user_id
    got = api.get("/orgs", headers=auth(shared))
    assert got.status_code == 200
    roles = {o["org_id"]: (o["role"], o["status"]) for o in got.json()["orgs"]}
    assert roles[orgs.a.org_id] == ("Member", "active")
    assert roles[orgs.b.org_id] == ("Admin", "active")
    assert api.get("/orgs", headers=auth(str(uuid.uuid4()))).json() == {"orgs": []}
    assert api.get("/orgs").status_code == 401


def test_switch_org(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    ok = api.post(f"/orgs/{orgs.a.org_id}/switch", headers=auth(orgs.a.member_id))
    assert ok.status_code == 200 and ok.json()["role"] == "Member"
    refused(api.post(f"/orgs/{orgs.a.org_id}/switch", headers=auth(orgs.b.owner_id)), 404)


def test_create_org_subject_to_project_settings(
    api: TestClient, auth: Headers, orgs: TwoOrgs, superuser: Superuser
) -> None:
    me = orgs.a.member_id
    created = api.post("/orgs", json={"name": "Mine", "metadata": {"k": 1}}, headers=auth(me))
    assert created.status_code == 201, created.text
    org_id = created.json()["org_id"]
    assert role_of(superuser, org_id, me) == "Owner"
    superuser.execute("UPDATE tenantkit.users SET can_create_orgs = false WHERE user_id = %s",
                      (me,))
    refused(api.post("/orgs", json={"name": "Another"}, headers=auth(me)), 403)
    superuser.execute("UPDATE tenantkit.settings SET users_can_create_orgs = false")
    try:
        refused(api.post("/orgs", json={"name": "Nope"}, headers=auth(orgs.b.member_id)), 426)
    finally:
        superuser.execute("UPDATE tenantkit.settings SET users_can_create_orgs = true")
    superuser.execute("UPDATE tenantkit.settings SET max_orgs_per_user = 1")
    try:
        refused(api.post("/orgs", json={"name": "Full"}, headers=auth(orgs.b.member_id)), 409)
    finally:
        superuser.execute("UPDATE tenantkit.settings SET max_orgs_per_user = NULL")
    refused(api.post("/orgs", json={"name": "x", "org_id": orgs.a.org_id},
                     headers=auth(me)), 400)


# --- settings ------------------------------------------------------------------------


def test_read_org_settings(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    got = api.get(f"/orgs/{orgs.a.org_id}", headers=auth(orgs.a.member_id))
    assert got.status_code == 200 and got.json()["name"] == orgs.a.name
    refused(api.get(f"/orgs/{orgs.a.org_id}", headers=auth(orgs.b.owner_id)), 404)
    refused(api.get(f"/orgs/{uuid.uuid4()}", headers=auth(orgs.b.owner_id)), 404)


def test_update_org_settings(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    a = orgs.a
    ok = api.patch(f"/orgs/{a.org_id}", json={"name": "Renamed", "metadata": {"x": 1}},
                   headers=auth(a.admin_id))
    assert ok.status_code == 200 and ok.json()["name"] == "Renamed"
    refused(api.patch(f"/orgs/{a.org_id}", json={"name": "Nope"}, headers=auth(a.member_id)),
            403)
    # the 2FA deadline is the top role's alone (test_org_settings.py has the rest)
    refused(api.patch(f"/orgs/{a.org_id}", json={"require_2fa_by": 1_900_000_000},
                      headers=auth(a.admin_id)), 403)
    refused(api.patch(f"/orgs/{a.org_id}", json={"max_users": 1000},
                      headers=auth(a.owner_id)), 400)  # not an end user's setting at all
    refused(api.patch(f"/orgs/{a.org_id}", json={"name": "Nope"}, headers=auth(orgs.b.owner_id)),
            404)


def test_domains_are_asked_for_pending(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    a = orgs.a
    domain = f"d{uuid.uuid4().hex[:8]}.example"
    asked = api.post(f"/orgs/{a.org_id}/domains", json={"domain": domain},
                     headers=auth(a.admin_id))
    assert asked.status_code == 201, asked.text
    assert asked.json()["state"] == "pending"
    assert asked.json()["txt_record_name"] == f"_tenantkit-verification.{domain}"
    refused(api.post(f"/orgs/{a.org_id}/domains", json={"domain": "m.example"},
                     headers=auth(a.member_id)), 403)
    refused(api.post(f"/orgs/{a.org_id}/domains", json={"domain": "b.example"},
                     headers=auth(orgs.b.owner_id)), 404)
    listed = api.get(f"/orgs/{a.org_id}/domains", headers=auth(a.owner_id)).json()["domains"]
    assert [d["domain"] for d in listed] == [domain]
    # a pending domain counts for nothing: the org's domains are unchanged
    assert api.get(f"/orgs/{a.org_id}", headers=auth(a.owner_id)).json()["domain"] is None
    refused(api.delete(f"/orgs/{a.org_id}/domains/{domain}", headers=auth(orgs.b.owner_id)), 404)
    assert api.delete(f"/orgs/{a.org_id}/domains/{domain}",
                      headers=auth(a.admin_id)).status_code == 204


# --- members --------------------------------------------------------------------------


def test_list_members_with_paging_and_role_filter(api: TestClient, auth: Headers,
                                                  orgs: TwoOrgs) -> None:
    a = orgs.a
    first = api.get(f"/orgs/{a.org_id}/members", params={"page_size": 2},
                    headers=auth(a.member_id)).json()
    assert first["total_members"] == 4 and len(first["members"]) == 2
    assert first["has_more_results"] is True
    second = api.get(f"/orgs/{a.org_id}/members", params={"page_size": 2, "page_number": 1},
                     headers=auth(a.member_id)).json()
    ids = {m["user_id"] for m in first["members"] + second["members"]}
    assert ids == {a.owner_id, a.admin_id, a.member_id, orgs.shared_user_id}
    admins = api.get(f"/orgs/{a.org_id}/members", params={"role": "Admin"},
                     headers=auth(a.member_id)).json()
    assert [m["user_id"] for m in admins["members"]] == [a.admin_id]
    refused(api.get(f"/orgs/{a.org_id}/members", headers=auth(orgs.b.owner_id)), 404)


def test_list_members_by_cursor(api: TestClient, auth: Headers, orgs: TwoOrgs,
                                service: Callable[[], contextmanager[Management]]) -> None:  # type: ignore[type-arg]
    a, b = orgs.a, orgs.b
    path = f"/orgs/{a.org_id}/members"
    first = api.get(path, params={"page_size": 2}, headers=auth(a.member_id)).json()
    assert first["list_metadata"]["before"] is None and first["list_metadata"]["after"]
    with service() as m:  # someone joins between the pages: at the end, once
        joiner = m.users.create(f"j.{uuid.uuid4().hex[:6]}@example.com").user_id
        m.members.add(a.org_id, joiner, "Member")
    second = api.get(path, params={"page_size": 2, "after": first["list_metadata"]["after"]},
                     headers=auth(a.member_id)).json()
    assert second["has_more_results"] is True
    third = api.get(path, params={"page_size": 2, "after": second["list_metadata"]["after"]},
                    headers=auth(a.member_id)).json()
    assert third["has_more_results"] is False and third["list_metadata"]["after"] is None
    ids = [m["user_id"] for page in (first, second, third) for m in page["members"]]
    assert ids[-1] == joiner and len(ids) == len(set(ids)) == 5
    back = api.get(path, params={"page_size": 2, "before": third["list_metadata"]["before"]},
                   headers=auth(a.member_id)).json()
    assert [m["user_id"] for m in back["members"]] == ids[2:4]
    # A's cursor gives B's Owner nothing of A's; junk is a 400
    refused(api.get(path, params={"after": first["list_metadata"]["after"]},
                    headers=auth(b.owner_id)), 404)
    refused(api.get(path, params={"after": "junk"}, headers=auth(a.member_id)), 400)
    refused(api.get(path, params={"after": "a", "before": "b"}, headers=auth(a.member_id)), 400)


def test_member_detail(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    a = orgs.a
    got = api.get(f"/orgs/{a.org_id}/members/{a.admin_id}", headers=auth(a.member_id))
    assert got.status_code == 200 and got.json()["role"] == "Admin"
    assert got.json()["email"] == orgs.emails[a.admin_id]
    refused(api.get(f"/orgs/{a.org_id}/members/{orgs.b.owner_id}", headers=auth(a.owner_id)),
            404)
    refused(api.get(f"/orgs/{a.org_id}/members/{a.admin_id}", headers=auth(orgs.b.owner_id)),
            404)


def test_change_role(api: TestClient, auth: Headers, orgs: TwoOrgs,
                     superuser: Superuser) -> None:
    a = orgs.a
    path = f"/orgs/{a.org_id}/members/{a.member_id}/role"
    refused(api.put(path, json={"role": "Admin"}, headers=auth(a.member_id)), 403)
    refused(api.put(path, json={"role": "Owner"}, headers=auth(a.admin_id)), 403)  # above own
    ok = api.put(path, json={"role": "Admin"}, headers=auth(a.admin_id))
    assert ok.status_code == 200 and ok.json()["role"] == "Admin"
    assert role_of(superuser, a.org_id, a.member_id) == "Admin"
    refused(api.put(path, json={"role": "Member"}, headers=auth(orgs.b.owner_id)), 404)


def test_remove_member(api: TestClient, auth: Headers, orgs: TwoOrgs,
                       superuser: Superuser) -> None:
    a = orgs.a
    refused(api.delete(f"/orgs/{a.org_id}/members/{a.admin_id}", headers=auth(a.member_id)), 403)
    refused(api.delete(f"/orgs/{a.org_id}/members/{a.member_id}",
                       headers=auth(orgs.b.owner_id)), 404)
    assert api.delete(f"/orgs/{a.org_id}/members/{a.member_id}",
                      headers=auth(a.admin_id)).status_code == 204
    assert role_of(superuser, a.org_id, a.member_id) is None


def test_leave(api: TestClient, auth: Headers, orgs: TwoOrgs, superuser: Superuser) -> None:
    shared = orgs.shared_user_id
    assert api.post(f"/orgs/{orgs.a.org_id}/leave", headers=auth(shared)).status_code == 204
    assert role_of(superuser, orgs.a.org_id, shared) is None
    assert role_of(superuser, orgs.b.org_id, shared) == "Admin"  # only the org left
    refused(api.post(f"/orgs/{orgs.a.org_id}/leave", headers=auth(orgs.b.owner_id)), 404)


def test_transfer_ownership(api: TestClient, auth: Headers, orgs: TwoOrgs,
                            superuser: Superuser) -> None:
    a = orgs.a
    path = f"/orgs/{a.org_id}/transfer_ownership"
    refused(api.post(path, json={"user_id": a.admin_id, "keep_role": "Member"},
                     headers=auth(a.member_id)), 403)
    assert role_of(superuser, a.org_id, a.member_id) == "Member"  # nothing half-written
    ok = api.post(path, json={"user_id": a.admin_id}, headers=auth(a.owner_id))
    assert ok.status_code == 200 and ok.json()["role"] == "Owner"
    assert role_of(superuser, a.org_id, a.owner_id) == "Admin"
    refused(api.post(path, json={"user_id": a.admin_id}, headers=auth(orgs.b.owner_id)), 404)


# --- invites ----------------------------------------------------------------------------


def test_invite_and_list(api: TestClient, auth: Headers, orgs: TwoOrgs,
                         sender: RecordingSender) -> None:
    a = orgs.a
    email = f"new.{uuid.uuid4().hex[:6]}@example.com"
    refused(api.post(f"/orgs/{a.org_id}/invites", json={"email": email, "role": "Member"},
                     headers=auth(a.member_id)), 403)
    refused(api.post(f"/orgs/{a.org_id}/invites", json={"email": email, "role": "Member"},
                     headers=auth(orgs.b.owner_id)), 404)
    made = api.post(f"/orgs/{a.org_id}/invites", json={"email": email, "role": "Member"},
                    headers=auth(a.admin_id))
    assert made.status_code == 201, made.text
    assert "token" not in made.text  # the link goes to the invitee only
    assert sender.sent[-1].to == email
    assert sender.sent[-1].accept_url.startswith("https://app.test/accept?token=tk_inv_")
    listed = api.get(f"/orgs/{a.org_id}/invites", headers=auth(a.admin_id)).json()
    [mine] = [i for i in listed["invites"] if i["email"] == email]
    assert (mine["delivery_state"], mine["delivery_attempts"]) == ("sent", 1)
    refused(api.get(f"/orgs/{a.org_id}/invites", headers=auth(orgs.b.owner_id)), 404)
    # a member who may not invite sees no invites: the database's reader returns none
    assert api.get(f"/orgs/{a.org_id}/invites", headers=auth(a.member_id)).json()["invites"] == []


def test_revoke_and_resend(api: TestClient, auth: Headers, orgs: TwoOrgs,
                           sender: RecordingSender) -> None:
    a = orgs.a
    made = api.post(f"/orgs/{a.org_id}/invites",
                    json={"email": orgs.emails[orgs.b.member_id], "role": "Member"},
                    headers=auth(a.admin_id)).json()["invite"]
    first_link = sender.sent[-1].accept_url
    refused(api.post(f"/orgs/{a.org_id}/invites/{made['invite_id']}/resend",
                     headers=auth(orgs.b.owner_id)), 404)
    again = api.post(f"/orgs/{a.org_id}/invites/{made['invite_id']}/resend",
                     headers=auth(a.admin_id))
    assert again.status_code == 201
    assert sender.sent[-1].accept_url != first_link
    old_token = first_link.split("token=")[1]
    refused(api.post("/invites/accept", json={"token": old_token},
                     headers=auth(orgs.b.member_id)), 409)  # the old link is dead
    new_id = again.json()["invite"]["invite_id"]
    # the Member's reader shows no invites: the invite is invisible to them
    refused(api.delete(f"/orgs/{a.org_id}/invites/{new_id}", headers=auth(a.member_id)), 404)
    refused(api.delete(f"/orgs/{a.org_id}/invites/{new_id}", headers=auth(orgs.b.owner_id)), 404)
    assert api.delete(f"/orgs/{a.org_id}/invites/{new_id}",
                      headers=auth(a.admin_id)).status_code == 204


def test_accept_and_decline_as_the_invitee(
    api: TestClient, auth: Headers, orgs: TwoOrgs, sender: RecordingSender,
    superuser: Superuser,
) -> None:
    a, b = orgs.a, orgs.b

    def invite(user_id: str) -> str:
        api.post(f"/orgs/{a.org_id}/invites", json={"email": orgs.emails[user_id],
                                                    "role": "Member"}, headers=auth(a.owner_id))
        return sender.sent[-1].accept_url.split("token=")[1]

    token = invite(b.owner_id)
    refused(api.post("/invites/accept", json={"token": token}, headers=auth(b.admin_id)), 403)
    ok = api.post("/invites/accept", json={"token": token}, headers=auth(b.owner_id))
    assert ok.status_code == 200 and ok.json()["org_id"] == a.org_id
    assert role_of(superuser, a.org_id, b.owner_id) == "Member"
    refused(api.post("/invites/accept", json={"token": token}, headers=auth(b.owner_id)), 409)
    refused(api.post("/invites/accept", json={"token": "tk_inv_nothing"},
                     headers=auth(b.owner_id)), 404)

    token = invite(b.admin_id)
    refused(api.post("/invites/decline", json={"token": token}, headers=auth(b.member_id)), 404)
    ok = api.post("/invites/decline", json={"token": token}, headers=auth(b.admin_id))
    assert ok.status_code == 200 and ok.json() == {"org_id": a.org_id}
    refused(api.post("/invites/decline", json={"token": token}, headers=auth(b.admin_id)), 409)
    refused(api.post("/invites/accept", json={"token": token}, headers=auth(b.admin_id)), 409)
    assert role_of(superuser, a.org_id, b.admin_id) is None


def test_a_failed_send_keeps_the_invite_and_shows(
    api: TestClient, auth: Headers, orgs: TwoOrgs, sender: RecordingSender
) -> None:
    a = orgs.a
    email = f"down.{uuid.uuid4().hex[:6]}@example.com"
    sender.fail = 3  # every attempt
    made = api.post(f"/orgs/{a.org_id}/invites", json={"email": email, "role": "Member"},
                    headers=auth(a.admin_id))
    assert made.status_code == 201
    [listed] = [i for i in api.get(f"/orgs/{a.org_id}/invites", headers=auth(a.admin_id))
                .json()["invites"] if i["email"] == email]
    assert listed["state"] == "pending"
    assert (listed["delivery_state"], listed["delivery_attempts"]) == ("failed", 3)
    assert "mail server unreachable" in listed["delivery_error"]
    sender.fail = 1  # one failure, then the retry gets through
    api.post(f"/orgs/{a.org_id}/invites/{listed['invite_id']}/resend", headers=auth(a.admin_id))
    [again] = [i for i in api.get(f"/orgs/{a.org_id}/invites", headers=auth(a.admin_id))
               .json()["invites"] if i["email"] == email]
    assert (again["delivery_state"], again["delivery_attempts"]) == ("sent", 2)


# --- API keys -----------------------------------------------------------------------------


def test_org_api_keys(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    a, b = orgs.a, orgs.b
    refused(api.post(f"/orgs/{a.org_id}/api_keys", json={"name": "ci"},
                     headers=auth(a.member_id)), 403)
    made = api.post(f"/orgs/{a.org_id}/api_keys", json={"name": "ci"}, headers=auth(a.admin_id))
    assert made.status_code == 201 and made.json()["secret"].startswith("tk_org_")
    key_id = made.json()["api_key"]["api_key_id"]
    listed = api.get(f"/orgs/{a.org_id}/api_keys", headers=auth(a.admin_id)).json()
    assert [k["api_key_id"] for k in listed["api_keys"]] == [key_id]
    refused(api.get(f"/orgs/{a.org_id}/api_keys", headers=auth(b.owner_id)), 404)
    refused(api.delete(f"/orgs/{b.org_id}/api_keys/{key_id}", headers=auth(b.owner_id)), 404)
    # a Member's session does not even see the org's keys
    refused(api.delete(f"/orgs/{a.org_id}/api_keys/{key_id}", headers=auth(a.member_id)), 404)
    archived = api.delete(f"/orgs/{a.org_id}/api_keys/{key_id}", headers=auth(a.admin_id))
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    assert api.get(f"/orgs/{a.org_id}/api_keys", headers=auth(a.admin_id)).json()[
        "api_keys"] == []


# --- the HTTP layer itself -------------------------------------------------------------------


def test_bad_input_and_bad_tokens(api: TestClient, auth: Headers, orgs: TwoOrgs) -> None:
    refused(api.get("/orgs/not-a-uuid", headers=auth(orgs.a.owner_id)), 400)
    refused(api.post("/orgs", json={"name": ""}, headers=auth(orgs.a.owner_id)), 400)
    refused(api.get(f"/orgs/{orgs.a.org_id}", headers={"Authorization": "Bearer nope"}), 401)


def test_the_database_decides_not_the_token(api: TestClient, auth: Headers, orgs: TwoOrgs,
                                            superuser: Superuser) -> None:
    """The same token, before and after the database changes the member's role."""
    a = orgs.a
    headers = auth(a.member_id)
    email = f"later.{uuid.uuid4().hex[:6]}@example.com"
    body = {"email": email, "role": "Member"}
    refused(api.post(f"/orgs/{a.org_id}/invites", json=body, headers=headers), 403)
    superuser.execute("UPDATE tenantkit.memberships SET role = 'Admin' WHERE org_id = %s "
                      "AND user_id = %s", (a.org_id, a.member_id))
    assert api.post(f"/orgs/{a.org_id}/invites", json=body, headers=headers).status_code == 201
    superuser.execute("DELETE FROM tenantkit.memberships WHERE org_id = %s AND user_id = %s",
                      (a.org_id, a.member_id))
    refused(api.get(f"/orgs/{a.org_id}/invites", headers=headers), 404)


def test_a_request_is_activity(api: TestClient, auth: Headers, orgs: TwoOrgs,
                               superuser: Superuser) -> None:
    me = orgs.a.member_id

    def last_active() -> object:
        row = superuser.execute("SELECT last_active_at FROM tenantkit.users WHERE user_id = %s",
                                (me,)).fetchone()
        assert row is not None
        return row[0]

    assert last_active() is None
    api.get("/orgs", headers=auth(me))
    first = last_active()
    assert first is not None
    api.get(f"/orgs/{orgs.a.org_id}", headers=auth(me))
    assert last_active() == first  # at most one write a minute
    others = superuser.execute("SELECT count(*) FROM tenantkit.users WHERE user_id = ANY(%s) "
                               "AND last_active_at IS NOT NULL",
                               ([orgs.a.owner_id, orgs.b.owner_id],)).fetchone()
    assert others == (0,)  # only the requesting user


def test_no_org_can_have_the_id_org_less_operations_bind(service_engine: Engine) -> None:
    from tenantkit import InvalidField
    from tenantkit.selfservice import NO_ORG

    with pytest.raises(InvalidField, match="org_id"), service_engine.begin() as conn:
        Management(conn, Actor.service()).orgs.create("Nil", org_id=NO_ORG)
