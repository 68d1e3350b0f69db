"""Response shapes PropelAuth clients rely on, tokens that verify, and the org's wire
shapes read off the orgs service's one definition of its fields."""

from __future__ import annotations

import inspect
import re
import uuid
from dataclasses import dataclass, fields

from fastapi.testclient import TestClient

from tenantkit.orgs import Orgs, models
from tenantkit.server import _schemas as s
from tenantkit.server._wire import record_model
from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier

V1 = "/api/backend/v1"
UUID_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_org_shape_and_ids(client: TestClient) -> None:
    created = client.post(f"{V1}/org/", json={"name": "Shape Co", "domain": "shape.example"})
    org = created.json()
    assert UUID_V4.fullmatch(org["org_id"])
    assert org["url_safe_org_name"] == org["url_safe_org_slug"] == "shape-co"
    assert org["name"] == org["org_name"] == "Shape Co"
    assert client.get(f"{V1}/org/{org['org_id'].upper()}").json() == org
    for key in ("can_setup_saml", "is_saml_configured", "is_saml_in_test_mode",
                "metadata", "domain", "extra_domains", "domain_autojoin", "domain_restrict",
                "password_rotation_enabled"):
        assert key in org
    # unset optional fields are omitted, not null (PropelAuth's types are not nullable)
    for key in ("max_users", "custom_role_mapping_name", "legacy_org_id", "require_2fa_by"):
        assert key not in org
    limited = client.put(f"{V1}/org/{org['org_id']}", json={"max_users": 7}).json()
    assert limited["max_users"] == 7
    user = client.post(f"{V1}/user/", json={"email": f"{uuid.uuid4().hex}@x.example"}).json()
    assert UUID_V4.fullmatch(user["user_id"])


def test_query_by_get_and_post_agree(client: TestClient, orgs: TwoOrgs) -> None:
    params = {"page_size": 3, "page_number": 1, "order_by": "NAME", "name": "org"}
    by_get = client.get(f"{V1}/org/query", params=params).json()
    by_post = client.post(f"{V1}/org/query", json=params).json()
    assert by_get == by_post
    assert set(by_get) == {"orgs", "total_orgs", "current_page", "page_size", "has_more_results",
                           "list_metadata"}  # the cursors around the page (WorkOS)
    assert by_get["current_page"] == 1 and len(by_get["orgs"]) <= 3


def test_users_in_org_and_pending_invites(client: TestClient, orgs: TwoOrgs) -> None:
    a = orgs.a
    page = client.get(f"{V1}/user/org/{a.org_id}", params={"include_orgs": "true"}).json()
    assert page["total_users"] == 4
    owner = next(u for u in page["users"] if u["user_id"] == a.owner_id)
    info = owner["org_id_to_org_info"][a.org_id]
    assert info["user_role"] == owner["role_in_org"] == "Owner"
    assert info["inherited_user_roles_plus_current_role"] == ["Owner", "Admin", "Member"]
    assert info["org_role_structure"] == "single_role_in_hierarchy"
    client.post(f"{V1}/invite_user", json={"email": "shape@example.com", "org_id": a.org_id,
                                          "role": "Member"})
    invites = client.get(f"{V1}/pending_org_invites", params={"org_id": a.org_id}).json()
    [invite] = invites["invites"]
    assert invite["invitee_email"] == "shape@example.com" and invite["role_in_org"] == "Member"
    assert invite["org_name"] == a.name and invites["total_invites"] == 1
    revoked = client.request("DELETE", f"{V1}/pending_org_invites",
                             json={"org_id": a.org_id, "invitee_email": "shape@example.com"})
    assert revoked.json() == {}  # propelauth-py parses this body as JSON


def test_access_token_verifies_and_carries_roles(
    client: TestClient, orgs: TwoOrgs, issuer: TokenIssuer
) -> None:
    verifier = TokenVerifier.for_issuer(issuer)
    response = client.post(f"{V1}/access_token", json={
        "user_id": orgs.shared_user_id, "duration_in_minutes": 10})
    principal = verifier.verify(response.json()["access_token"])
    assert principal.user_id == orgs.shared_user_id
    assert principal.get_org(orgs.b.org_id).user_role == "Admin"  # type: ignore[union-attr]
    assert principal.get_org(orgs.a.org_id).user_is_role("Member")  # type: ignore[union-attr]
    scoped = client.post(f"{V1}/access_token", json={
        "user_id": orgs.shared_user_id, "duration_in_minutes": 10,
        "active_org_id": orgs.a.org_id})
    assert verifier.verify(scoped.json()["access_token"]).active_org_id == orgs.a.org_id
    pem = client.get("/api/v1/token_verification_metadata").json()["verifier_key_pem"]
    assert pem == client.get(f"{V1}/token_verification_metadata").json()["public_key_pem"]
    assert pem == issuer.public_key_pem


def test_errors_are_json_everywhere(client: TestClient) -> None:
    missing = client.get("/api/backend/v1/no/such/path")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = client.post(f"{V1}/org/", content=b"{not json",
                      headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "fields" in bad.json()
    schema = client.get("/openapi.json").json()
    assert all("422" not in op["responses"]
               for ops in schema["paths"].values() for op in ops.values())


# --- the org's fields are defined once, in the orgs service --------------------------


def test_the_org_shape_is_read_off_the_org_record() -> None:
    record = [f.name for f in fields(models.Org)]
    wire = list(s.Org.model_fields)
    assert [name for name in wire if name in record] == record  # every field, in order
    assert set(wire) - set(record) == {
        "org_name", "url_safe_org_slug", "autojoin_by_domain", "restrict_to_domain",
        "password_rotation_enabled", "password_rotation_history_size",
        "password_rotation_period",
    }


def test_update_org_takes_what_the_service_updates() -> None:
    taken = {s.ORG_UPDATE_NAMES.get(name, name) for name in models.ORG_UPDATABLE}
    saml = {"is_saml_configured", "is_saml_in_test_mode"}  # a SAML connection sets these
    rotation = {"password_rotation_enabled", "password_rotation_history_size",
                "password_rotation_period"}
    assert set(s.UpdateOrg.model_fields) == (taken - saml) | rotation


def test_create_org_takes_what_the_service_creates_with() -> None:
    parameters = inspect.signature(Orgs.create).parameters
    assert list(s.CreateOrg.model_fields) == [p for p in parameters if p not in ("self", "org_id")]
    assert s.CreateOrg.model_fields["name"].is_required()


def test_a_new_record_field_reaches_the_wire_unedited() -> None:
    @dataclass(frozen=True)
    class Planned(models.Org):
        plan: str | None = None

    model = record_model("Planned", Planned)
    assert "plan" in model.model_fields
    assert model.model_fields["created_at"].annotation is int  # datetimes go out as seconds


def test_org_info_only_with_include_orgs_and_updates_answer_empty(
    client: TestClient, orgs: TwoOrgs
) -> None:
    a = orgs.a
    plain = client.get(f"{V1}/user/{a.owner_id}").json()
    assert "org_id_to_org_info" not in plain and "role_in_org" not in plain
    full = client.get(f"{V1}/user/{a.owner_id}", params={"include_orgs": "true"}).json()
    assert a.org_id in full["org_id_to_org_info"]
    [batch] = client.post(f"{V1}/user/user_ids", json={"user_ids": [a.owner_id]}).json()
    assert batch["user_id"] == a.owner_id and "org_id_to_org_info" not in batch
    members = client.get(f"{V1}/user/org/{a.org_id}").json()["users"]
    assert all("org_id_to_org_info" not in u and "role_in_org" in u for u in members)
    # PropelAuth answers the user updates with an empty object
    assert client.put(f"{V1}/user/{a.owner_id}", json={"first_name": "Ada"}).json() == {}
    assert client.get(f"{V1}/user/{a.owner_id}").json()["first_name"] == "Ada"
    moved = f"moved-{uuid.uuid4().hex[:6]}@example.com"
    assert client.put(f"{V1}/user/{a.owner_id}/email", json={"new_email": moved}).json() == {}


def test_email_lookup_honours_isolated_org_id(client: TestClient) -> None:
    email = f"iso-{uuid.uuid4().hex[:6]}@example.com"
    org = client.post(f"{V1}/org/", json={"name": "iso", "isolated": True}).json()
    shared = client.post(f"{V1}/user/", json={"email": email}).json()["user_id"]
    inside = client.post(f"{V1}/user/", json={"email": email,
                                              "isolated_org_id": org["org_id"]}).json()
    assert client.get(f"{V1}/user/email", params={"email": email}).json()["user_id"] == shared
    found = client.get(f"{V1}/user/email", params={"email": email,
                                                   "isolated_org_id": org["org_id"]}).json()
    assert found["user_id"] == inside["user_id"] != shared


def test_org_query_pages_by_cursor(client: TestClient) -> None:
    tag = f"cur{uuid.uuid4().hex[:6]}"
    for i in range(5):
        client.post(f"{V1}/org/", json={"name": f"{tag} {i}"})
    query = {"name": tag, "order_by": "NAME", "page_size": 2}
    page = client.get(f"{V1}/org/query", params=query).json()  # page numbers, as PropelAuth
    names = [o["name"] for o in page["orgs"]]
    assert "before" not in page["list_metadata"]
    while "after" in page["list_metadata"]:  # then by cursor, as WorkOS
        page = client.post(f"{V1}/org/query",
                           json={**query, "after": page["list_metadata"]["after"]}).json()
        names += [o["name"] for o in page["orgs"]]
    assert names == [f"{tag} {i}" for i in range(5)]
    assert page["has_more_results"] is False
    back = client.get(f"{V1}/org/query",
                      params={**query, "before": page["list_metadata"]["before"]}).json()
    assert [o["name"] for o in back["orgs"]] == [f"{tag} 2", f"{tag} 3"]
    bad = client.get(f"{V1}/org/query", params={"after": "junk"})
    assert bad.status_code == 400 and "after" in bad.json()["fields"]


def test_user_lists_page_by_cursor(client: TestClient, orgs: TwoOrgs) -> None:
    a = orgs.a
    # members of an org: PropelAuth's page numbers, then on by cursor
    first = client.get(f"{V1}/user/org/{a.org_id}", params={"page_size": 3}).json()
    assert set(first) == {"users", "total_users", "current_page", "page_size",
                          "has_more_results", "list_metadata"}
    assert "before" not in first["list_metadata"] and first["has_more_results"] is True
    rest = client.get(f"{V1}/user/org/{a.org_id}", params={
        "page_size": 3, "after": first["list_metadata"]["after"]}).json()
    ids = [u["user_id"] for u in first["users"] + rest["users"]]
    assert len(ids) == len(set(ids)) == 4 and rest["has_more_results"] is False
    assert "after" not in rest["list_metadata"]
    assert all("role_in_org" in u for u in rest["users"])
    # the users query, by cursor from the start
    tag = orgs.emails[a.owner_id].split(".", 1)[1].split("@")[0]
    query = {"email_or_username": tag, "order_by": "EMAIL", "page_size": 2}
    everyone = client.get(f"{V1}/user/query", params={**query, "page_size": 100}).json()
    page = client.get(f"{V1}/user/query", params=query).json()
    seen = [u["email"] for u in page["users"]]
    while "after" in page["list_metadata"]:
        page = client.get(f"{V1}/user/query",
                          params={**query, "after": page["list_metadata"]["after"]}).json()
        seen += [u["email"] for u in page["users"]]
    assert seen == [u["email"] for u in everyone["users"]] and len(seen) == 7
    for path in (f"/user/org/{a.org_id}", "/user/query"):
        bad = client.get(f"{V1}{path}", params={"after": "junk"})
        assert bad.status_code == 400 and "after" in bad.json()["fields"], bad.text
        both = client.get(f"{V1}{path}", params={"after": "a", "before": "b"})
        assert both.status_code == 400
