"""Every endpoint: its happy path and each error status it can return, as a table.

Each case builds one request from a fresh pair of seeded orgs (`Ctx`), may run
setup requests first, and names the status it must get. Bodies of errors are
JSON with `error` and `message` (and `fields` naming bad input for 400).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenantkit.testing import TwoOrgs

GHOST = "00000000-0000-4000-8000-000000000000"
V1 = "/api/backend/v1"


@dataclass
class Ctx:
    client: TestClient
    orgs: TwoOrgs
    tag: str

    @property
    def a(self) -> Any:
        return self.orgs.a

    def email(self, stem: str = "x", domain: str = "example.com") -> str:
        return f"{stem}-{self.tag}@{domain}"

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def new_org(self, **fields: Any) -> str:
        return str(self.ok("POST", f"{V1}/org/", 201,
                           json={"name": f"org {self.tag}", **fields})["org_id"])

    def new_user(self, **fields: Any) -> str:
        body = {"email": self.email(uuid.uuid4().hex[:6]), **fields}
        return str(self.ok("POST", f"{V1}/user/", json=body)["user_id"])

    def invite(self, email: str) -> dict[str, Any]:
        return dict(self.ok("POST", f"{V1}/invite_user",
                            json={"email": email, "org_id": self.a.org_id, "role": "Member"}))


Request = tuple[str, str, dict[str, Any]]


@dataclass
class Case:
    name: str
    status: int
    build: Callable[[Ctx], Request]
    error_field: str | None = None

    def __str__(self) -> str:
        return self.name


def j(method: str, path: str, body: Any = None, **params: Any) -> Request:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["json"] = body
    if params:
        kwargs["params"] = params
    return method, path, kwargs


def _member(c: Ctx, role: str = "Member", org: str | None = None, user: str | None = None
            ) -> dict[str, Any]:
    return {"org_id": org or c.a.org_id, "user_id": user or c.new_user(), "role": role}


def _full_org(c: Ctx) -> Request:
    org = c.new_org(max_users=1)
    c.ok("POST", f"{V1}/org/add_user", json=_member(c, org=org))
    return j("POST", f"{V1}/org/add_user", _member(c, org=org))


def _reactivate_full(c: Ctx) -> Request:
    org = c.new_org(max_users=1)
    first = c.new_user()
    c.ok("POST", f"{V1}/org/add_user", json=_member(c, org=org, user=first))
    c.ok("POST", f"{V1}/org/deactivate_user", json={"org_id": org, "user_id": first})
    c.ok("POST", f"{V1}/org/add_user", json=_member(c, org=org))
    return j("POST", f"{V1}/org/reactivate_user", {"org_id": org, "user_id": first})


def _restricted(c: Ctx) -> str:
    return c.new_org(domain=f"{c.tag}.example", members_must_have_matching_domain=True)


def _accept_twice(c: Ctx) -> Request:
    token = c.invite(c.email("twice"))["token"]
    c.ok("POST", f"{V1}/accept_invite", json={"token": token})
    return j("POST", f"{V1}/accept_invite", {"token": token})


def _api_key(c: Ctx) -> str:
    created = c.ok("POST", f"{V1}/end_user_api_keys", json={"org_id": c.a.org_id})
    return str(created["api_key_token"])


def _api_key_id(c: Ctx) -> str:
    created = c.ok("POST", f"{V1}/end_user_api_keys", json={"org_id": c.a.org_id})
    return str(created["api_key_id"])


def _webhook(c: Ctx) -> str:
    created = c.ok("POST", f"{V1}/webhook_endpoints", json={"url": "https://hooks.example.com/"})
    return str(created["endpoint_id"])


def _mapping(c: Ctx) -> str:
    name = f"m-{c.tag}"
    c.ok("POST", f"{V1}/custom_role_mappings", json={
        "custom_role_mapping_name": name, "roles": [{"name": "Boss"}, {"name": "Staff"}]})
    return name


CASES = [
    # --- orgs -----------------------------------------------------------------------
    Case("create org", 201, lambda c: j("POST", f"{V1}/org/", {
        "name": "Acme", "domain": "acme.example", "enable_auto_joining_by_domain": True,
        "max_users": 5, "metadata": {"plan": "pro"}, "external_id": c.tag})),
    Case("create org: blank name", 400, lambda c: j("POST", f"{V1}/org/", {"name": " "}), "name"),
    Case("create org: unknown key", 400,
         lambda c: j("POST", f"{V1}/org/", {"name": "x", "colour": 1}), "colour"),
    Case("create org: duplicate external_id", 409, lambda c: (
        c.new_org(external_id=c.tag), j("POST", f"{V1}/org/", {"name": "x", "external_id": c.tag})
    )[1]),
    Case("fetch org", 200, lambda c: j("GET", f"{V1}/org/{c.a.org_id}")),
    Case("fetch org by external id", 200, lambda c: (
        c.new_org(external_id=f"ext-{c.tag}"), j("GET", f"{V1}/org/external_id/ext-{c.tag}"))[1]),
    Case("fetch org by external id: unknown", 404,
         lambda c: j("GET", f"{V1}/org/external_id/nobody-{c.tag}")),
    Case("ask for a domain", 201, lambda c: j(
        "POST", f"{V1}/org/{c.a.org_id}/domain_verifications", {"domain": f"{c.tag}.example"})),
    Case("verify a domain: no TXT record, still pending", 200, lambda c: (
        c.ok("POST", f"{V1}/org/{c.a.org_id}/domain_verifications", 201,
             json={"domain": f"{c.tag}.example"}),
        j("POST", f"{V1}/org/{c.a.org_id}/domain_verifications/{c.tag}.example/verify"))[1]),
    Case("verify a domain: never asked for", 404, lambda c: j(
        "POST", f"{V1}/org/{c.a.org_id}/domain_verifications/{c.tag}.example/verify")),
    Case("migrate org to isolated", 200, lambda c: j(
        "POST", f"{V1}/migrate_org_to_isolated", {"org_id": c.new_org()})),
    Case("migrate org to isolated: a member in another org", 409, lambda c: j(
        "POST", f"{V1}/migrate_org_to_isolated", {"org_id": c.a.org_id})),
    Case("migrate org to isolated: unknown", 404, lambda c: j(
        "POST", f"{V1}/migrate_org_to_isolated", {"org_id": GHOST})),
    Case("fetch org: malformed id", 400, lambda c: j("GET", f"{V1}/org/nope"), "org_id"),
    Case("fetch org: unknown", 404, lambda c: j("GET", f"{V1}/org/{GHOST}")),
    Case("update org", 200, lambda c: j("PUT", f"{V1}/org/{c.a.org_id}", {
        "name": "Renamed", "autojoin_by_domain": True, "domain": "r.example",
        "extra_domains": ["s.example"], "require_2fa_by": "2030-01-01T00:00:00Z",
        "custom_role_mapping_name": "Default", "max_users": 50})),
    Case("update org: bad max_users", 400,
         lambda c: j("PUT", f"{V1}/org/{c.a.org_id}", {"max_users": -1}), "max_users"),
    Case("update org: unknown", 404, lambda c: j("PUT", f"{V1}/org/{GHOST}", {"name": "x"})),
    Case("update org: duplicate legacy id", 409, lambda c: (
        c.new_org(legacy_org_id=c.tag),
        j("PUT", f"{V1}/org/{c.a.org_id}", {"legacy_org_id": c.tag}))[1]),
    Case("update org: password rotation", 426,
         lambda c: j("PUT", f"{V1}/org/{c.a.org_id}", {"password_rotation_enabled": True})),
    Case("delete org", 200, lambda c: j("DELETE", f"{V1}/org/{c.a.org_id}")),
    Case("delete org: unknown", 404, lambda c: j("DELETE", f"{V1}/org/{GHOST}")),
    Case("delete org: malformed id", 400, lambda c: j("DELETE", f"{V1}/org/x"), "org_id"),
    Case("query orgs (GET)", 200, lambda c: j("GET", f"{V1}/org/query", page_size=5,
                                              order_by="NAME", name="org")),
    Case("query orgs (GET): page_size", 400,
         lambda c: j("GET", f"{V1}/org/query", page_size=0), "page_size"),
    Case("query orgs (GET): order_by", 400,
         lambda c: j("GET", f"{V1}/org/query", order_by="UP"), "order_by"),
    Case("query orgs (POST)", 200, lambda c: j("POST", f"{V1}/org/query", {
        "page_size": 2, "page_number": 0, "order_by": "CREATED_AT_DESC"})),
    Case("query orgs (POST): page_size", 400,
         lambda c: j("POST", f"{V1}/org/query", {"page_size": 101}), "page_size"),
    Case("allow saml", 200, lambda c: j("POST", f"{V1}/org/{c.a.org_id}/allow_saml")),
    Case("allow saml: unknown", 404, lambda c: j("POST", f"{V1}/org/{GHOST}/allow_saml")),
    Case("disallow saml", 200, lambda c: j("POST", f"{V1}/org/{c.a.org_id}/disallow_saml")),
    Case("disallow saml: bad id", 400, lambda c: j("POST", f"{V1}/org/x/disallow_saml")),
    # --- members ----------------------------------------------------------------------
    Case("users in org", 200,
         lambda c: j("GET", f"{V1}/user/org/{c.a.org_id}", include_orgs="true", role="Admin")),
    Case("users in org: bad page", 400,
         lambda c: j("GET", f"{V1}/user/org/{c.a.org_id}", page_number=-1), "page_number"),
    Case("users in org: bad id", 400, lambda c: j("GET", f"{V1}/user/org/x"), "org_id"),
    Case("add user", 200, lambda c: j("POST", f"{V1}/org/add_user", _member(c, "Admin"))),
    Case("add user: unknown role", 400,
         lambda c: j("POST", f"{V1}/org/add_user", _member(c, "Emperor")), "role"),
    Case("add user: missing role", 400, lambda c: j(
        "POST", f"{V1}/org/add_user", {"org_id": c.a.org_id, "user_id": GHOST}), "role"),
    Case("add user: domain restricted", 403, lambda c: j(
        "POST", f"{V1}/org/add_user", _member(c, org=_restricted(c)))),
    Case("add user: unknown org", 404,
         lambda c: j("POST", f"{V1}/org/add_user", _member(c, org=GHOST))),
    Case("add user: already a member", 409, lambda c: j(
        "POST", f"{V1}/org/add_user", _member(c, user=c.a.member_id))),
    Case("add user: org full", 409, _full_org),
    Case("change role", 200, lambda c: j("POST", f"{V1}/org/change_role",
                                         _member(c, "Admin", user=c.a.member_id))),
    Case("change role: unknown role", 400, lambda c: j(
        "POST", f"{V1}/org/change_role", _member(c, "Emperor", user=c.a.member_id)), "role"),
    Case("change role: not a member", 404,
         lambda c: j("POST", f"{V1}/org/change_role", _member(c, "Admin"))),
    Case("remove user", 200, lambda c: j("POST", f"{V1}/org/remove_user",
                                         {"org_id": c.a.org_id, "user_id": c.a.member_id})),
    Case("remove user: bad id", 400, lambda c: j(
        "POST", f"{V1}/org/remove_user", {"org_id": c.a.org_id, "user_id": "x"}), "user_id"),
    Case("remove user: not a member", 404, lambda c: j(
        "POST", f"{V1}/org/remove_user", {"org_id": c.a.org_id, "user_id": GHOST})),
    Case("deactivate user", 200, lambda c: j(
        "POST", f"{V1}/org/deactivate_user", {"org_id": c.a.org_id, "user_id": c.a.member_id})),
    Case("deactivate user: not a member", 404, lambda c: j(
        "POST", f"{V1}/org/deactivate_user", {"org_id": c.a.org_id, "user_id": GHOST})),
    Case("reactivate user", 200, lambda c: j(
        "POST", f"{V1}/org/reactivate_user", {"org_id": c.a.org_id, "user_id": c.a.member_id})),
    Case("reactivate user: org full", 409, _reactivate_full),
    Case("reactivate user: bad body", 400,
         lambda c: j("POST", f"{V1}/org/reactivate_user", {"org_id": c.a.org_id}), "user_id"),
    # --- users ------------------------------------------------------------------------
    Case("create user", 200, lambda c: j("POST", f"{V1}/user/", {
        "email": c.email("new"), "email_confirmed": True, "username": f"u{c.tag}",
        "first_name": "Ada", "properties": {"k": 1},
        "send_email_to_confirm_email_address": False})),
    Case("create user: bad email", 400, lambda c: j("POST", f"{V1}/user/", {"email": "x"}),
         "email"),
    Case("create user: duplicate email", 409, lambda c: j(
        "POST", f"{V1}/user/", {"email": c.orgs.emails[c.a.owner_id]})),
    Case("create user: password", 426, lambda c: j(
        "POST", f"{V1}/user/", {"email": c.email("pw"), "password": "hunter22"})),
    Case("fetch user", 200, lambda c: j("GET", f"{V1}/user/{c.a.owner_id}", include_orgs="true")),
    Case("fetch user: bad id", 400, lambda c: j("GET", f"{V1}/user/nope"), "user_id"),
    Case("fetch user: unknown", 404, lambda c: j("GET", f"{V1}/user/{GHOST}")),
    Case("fetch by email", 200,
         lambda c: j("GET", f"{V1}/user/email", email=c.orgs.emails[c.a.owner_id])),
    Case("fetch by email: bad", 400, lambda c: j("GET", f"{V1}/user/email", email="x"), "email"),
    Case("fetch by email: unknown", 404,
         lambda c: j("GET", f"{V1}/user/email", email=c.email("nobody"))),
    Case("fetch by username", 200, lambda c: j(
        "GET", f"{V1}/user/username", username=(c.new_user(username=f"n{c.tag}"), f"n{c.tag}")[1])),
    Case("fetch by username: unknown", 404,
         lambda c: j("GET", f"{V1}/user/username", username=f"none{c.tag}")),
    Case("fetch by username: missing", 400, lambda c: j("GET", f"{V1}/user/username"),
         "username"),
    Case("query users", 200, lambda c: j("GET", f"{V1}/user/query", email_or_username="example",
                                         order_by="EMAIL", include_orgs="true")),
    Case("query users: order_by", 400,
         lambda c: j("GET", f"{V1}/user/query", order_by="AGE"), "order_by"),
    Case("users by ids", 200,
         lambda c: j("POST", f"{V1}/user/user_ids", {"user_ids": [c.a.owner_id, GHOST]})),
    Case("users by ids: bad id", 400,
         lambda c: j("POST", f"{V1}/user/user_ids", {"user_ids": ["x"]}), "user_ids"),
    Case("users by emails", 200, lambda c: j(
        "POST", f"{V1}/user/emails", {"emails": [c.orgs.emails[c.a.owner_id]]})),
    Case("users by emails: bad", 400,
         lambda c: j("POST", f"{V1}/user/emails", {"emails": ["x"]}), "emails"),
    Case("users by usernames", 200,
         lambda c: j("POST", f"{V1}/user/usernames", {"usernames": ["nobody"]})),
    Case("users by usernames: bad", 400,
         lambda c: j("POST", f"{V1}/user/usernames", {"usernames": "x"}), "usernames"),
    Case("update user", 200, lambda c: j("PUT", f"{V1}/user/{c.a.member_id}", {
        "first_name": "New", "metadata": {"a": 1}, "update_password_required": False})),
    Case("update user: unknown key", 400,
         lambda c: j("PUT", f"{V1}/user/{c.a.member_id}", {"age": 3}), "age"),
    Case("update user: unknown", 404,
         lambda c: j("PUT", f"{V1}/user/{GHOST}", {"first_name": "x"})),
    Case("update user: duplicate username", 409, lambda c: (
        c.new_user(username=f"taken{c.tag}"),
        j("PUT", f"{V1}/user/{c.a.member_id}", {"username": f"taken{c.tag}"}))[1]),
    Case("update email", 200, lambda c: j(
        "PUT", f"{V1}/user/{c.a.member_id}/email", {"new_email": c.email("moved")})),
    Case("update email: bad", 400, lambda c: j(
        "PUT", f"{V1}/user/{c.a.member_id}/email", {"new_email": "x"}), "new_email"),
    Case("update email: unknown", 404, lambda c: j(
        "PUT", f"{V1}/user/{GHOST}/email", {"new_email": c.email("moved")})),
    Case("update email: taken", 409, lambda c: j(
        "PUT", f"{V1}/user/{c.a.member_id}/email", {"new_email": c.orgs.emails[c.a.owner_id]})),
    Case("disable user", 200, lambda c: j("POST", f"{V1}/user/{c.a.member_id}/disable")),
    Case("disable user: unknown", 404, lambda c: j("POST", f"{V1}/user/{GHOST}/disable")),
    Case("enable user", 200, lambda c: j("POST", f"{V1}/user/{c.a.member_id}/enable")),
    Case("enable user: bad id", 400, lambda c: j("POST", f"{V1}/user/x/enable"), "user_id"),
    Case("delete user", 200, lambda c: j("DELETE", f"{V1}/user/{c.a.member_id}")),
    Case("delete user: unknown", 404, lambda c: j("DELETE", f"{V1}/user/{GHOST}")),
    # --- invites ------------------------------------------------------------------------
    Case("invite user", 200, lambda c: j("POST", f"{V1}/invite_user", {
        "email": c.email("inv"), "org_id": c.a.org_id, "role": "Admin"})),
    Case("invite user: bad email", 400, lambda c: j("POST", f"{V1}/invite_user", {
        "email": "x", "org_id": c.a.org_id, "role": "Admin"}), "email"),
    Case("invite user: domain restricted", 403, lambda c: j("POST", f"{V1}/invite_user", {
        "email": c.email("out"), "org_id": _restricted(c), "role": "Member"})),
    Case("invite user: unknown org", 404, lambda c: j("POST", f"{V1}/invite_user", {
        "email": c.email("inv"), "org_id": GHOST, "role": "Member"})),
    Case("invite user: duplicate", 409, lambda c: (c.invite(c.email("dup")), j(
        "POST", f"{V1}/invite_user",
        {"email": c.email("dup"), "org_id": c.a.org_id, "role": "Member"}))[1]),
    Case("invite by id", 200, lambda c: j("POST", f"{V1}/invite_user_by_id", {
        "user_id": c.orgs.b.owner_id, "org_id": c.a.org_id, "role": "Member"})),
    Case("invite by id: unknown user", 404, lambda c: j("POST", f"{V1}/invite_user_by_id", {
        "user_id": GHOST, "org_id": c.a.org_id, "role": "Member"})),
    Case("invite by id: already a member", 409, lambda c: j(
        "POST", f"{V1}/invite_user_by_id",
        {"user_id": c.a.admin_id, "org_id": c.a.org_id, "role": "Member"})),
    Case("invite by id: bad role", 400, lambda c: j("POST", f"{V1}/invite_user_by_id", {
        "user_id": c.orgs.b.owner_id, "org_id": c.a.org_id, "role": ""}), "role"),
    Case("pending invites", 200, lambda c: (c.invite(c.email("p")), j(
        "GET", f"{V1}/pending_org_invites", org_id=c.a.org_id))[1]),
    Case("pending invites: bad org", 400,
         lambda c: j("GET", f"{V1}/pending_org_invites", org_id="x"), "org_id"),
    Case("revoke invite", 200, lambda c: (c.invite(c.email("rv")), j(
        "DELETE", f"{V1}/pending_org_invites",
        {"org_id": c.a.org_id, "invitee_email": c.email("rv")}))[1]),
    Case("revoke invite: unknown", 404, lambda c: j("DELETE", f"{V1}/pending_org_invites", {
        "org_id": c.a.org_id, "invitee_email": c.email("none")})),
    Case("revoke invite: bad body", 400,
         lambda c: j("DELETE", f"{V1}/pending_org_invites", {"org_id": c.a.org_id}),
         "invitee_email"),
    Case("accept invite", 200, lambda c: j(
        "POST", f"{V1}/accept_invite", {"token": c.invite(c.email("acc"))["token"]})),
    Case("accept invite: unknown token", 404,
         lambda c: j("POST", f"{V1}/accept_invite", {"token": "tk_inv_nope"})),
    Case("accept invite: twice", 409, _accept_twice),
    Case("accept invite: bad user id", 400, lambda c: j(
        "POST", f"{V1}/accept_invite", {"token": "t", "user_id": "x"}), "user_id"),
    # --- role mappings ---------------------------------------------------------------------
    Case("role mappings", 200, lambda c: j("GET", f"{V1}/custom_role_mappings")),
    Case("add a role", 200, lambda c: j(
        "POST", f"{V1}/custom_role_mappings/{_mapping(c)}/roles",
        {"name": "Lead", "rank": 2, "description": "runs a team"})),
    Case("add a role: unknown mapping", 404, lambda c: j(
        "POST", f"{V1}/custom_role_mappings/nobody-{c.tag}/roles", {"name": "Lead"})),
    Case("update a role", 200, lambda c: j(
        "PUT", f"{V1}/custom_role_mappings/{_mapping(c)}/roles/Staff",
        {"new_name": "Crew", "permissions": ["app::read"]})),
    Case("update a role: unknown role", 404, lambda c: j(
        "PUT", f"{V1}/custom_role_mappings/{_mapping(c)}/roles/Ghost", {"description": "x"})),
    Case("reorder roles", 200, lambda c: j(
        "PUT", f"{V1}/custom_role_mappings/{_mapping(c)}/order", {"roles": ["Staff", "Boss"]})),
    Case("reorder roles: not every role", 400, lambda c: j(
        "PUT", f"{V1}/custom_role_mappings/{_mapping(c)}/order", {"roles": ["Boss"]})),
    Case("delete a role", 200, lambda c: j(
        "DELETE", f"{V1}/custom_role_mappings/{_mapping(c)}/roles/Staff")),
    Case("delete a role: the last one", 409, lambda c: (
        c.ok("DELETE", f"{V1}/custom_role_mappings/{(name := _mapping(c))}/roles/Staff"),
        j("DELETE", f"{V1}/custom_role_mappings/{name}/roles/Boss"))[1]),
    Case("create role mapping", 200, lambda c: j("POST", f"{V1}/custom_role_mappings", {
        "custom_role_mapping_name": f"m{c.tag}",
        "roles": [{"name": "Boss", "permissions": ["tenantkit::can_invite"]}, {"name": "Staff"}]})),
    Case("create role mapping: no roles", 400, lambda c: j(
        "POST", f"{V1}/custom_role_mappings",
        {"custom_role_mapping_name": "x", "roles": []}), "roles"),
    Case("create role mapping: duplicate", 409, lambda c: j(
        "POST", f"{V1}/custom_role_mappings",
        {"custom_role_mapping_name": "Default", "roles": [{"name": "A"}]})),
    # --- tokens -----------------------------------------------------------------------------
    Case("access token", 200, lambda c: j("POST", f"{V1}/access_token", {
        "user_id": c.a.admin_id, "duration_in_minutes": 5, "active_org_id": c.a.org_id})),
    Case("access token: not a member of active org", 400, lambda c: j(
        "POST", f"{V1}/access_token", {"user_id": c.a.admin_id, "duration_in_minutes": 5,
                                       "active_org_id": c.orgs.b.org_id}), "active_org_id"),
    Case("access token: unknown user", 403, lambda c: j(
        "POST", f"{V1}/access_token", {"user_id": GHOST, "duration_in_minutes": 5})),
    Case("verifier key (api/v1)", 200, lambda c: j("GET", "/api/v1/token_verification_metadata")),
    Case("public key (backend/v1)", 200,
         lambda c: j("GET", f"{V1}/token_verification_metadata")),
    # --- org API keys -------------------------------------------------------------------------
    Case("create api key", 200, lambda c: j("POST", f"{V1}/end_user_api_keys", {
        "org_id": c.a.org_id, "display_name": "ci", "permissions": ["read"]})),
    Case("create api key: no org", 400,
         lambda c: j("POST", f"{V1}/end_user_api_keys", {"display_name": "x"}), "org_id"),
    Case("create api key: unknown org", 404,
         lambda c: j("POST", f"{V1}/end_user_api_keys", {"org_id": GHOST})),
    Case("list api keys", 200, lambda c: j("GET", f"{V1}/end_user_api_keys", org_id=c.a.org_id)),
    Case("list api keys: bad org", 400,
         lambda c: j("GET", f"{V1}/end_user_api_keys", org_id="x"), "org_id"),
    Case("validate api key", 200, lambda c: j(
        "POST", f"{V1}/end_user_api_keys/validate", {"api_key_token": _api_key(c)})),
    Case("validate api key: as a bearer value", 200, lambda c: j(
        "POST", f"{V1}/end_user_api_keys/validate", {"api_key_token": "bearer " + _api_key(c)})),
    Case("validate api key: another scheme", 401, lambda c: j(
        "POST", f"{V1}/end_user_api_keys/validate", {"api_key_token": "Basic " + _api_key(c)})),
    Case("validate api key: unknown", 401, lambda c: j(
        "POST", f"{V1}/end_user_api_keys/validate", {"api_key_token": "tk_org_nope"})),
    Case("validate api key: missing", 400,
         lambda c: j("POST", f"{V1}/end_user_api_keys/validate", {}), "api_key_token"),
    Case("archive api key", 200,
         lambda c: j("DELETE", f"{V1}/end_user_api_keys/{_api_key_id(c)}")),
    Case("archive api key: unknown", 404, lambda c: j("DELETE", f"{V1}/end_user_api_keys/{GHOST}")),
    Case("archive api key: bad id", 400,
         lambda c: j("DELETE", f"{V1}/end_user_api_keys/x"), "api_key_id"),
    # --- feature flags ----------------------------------------------------------------------------
    Case("set flag", 200, lambda c: j("PUT", f"{V1}/org/{c.a.org_id}/feature_flags/beta",
                                      {"enabled": True, "value": {"n": 1}})),
    Case("set flag: bad body", 400, lambda c: j(
        "PUT", f"{V1}/org/{c.a.org_id}/feature_flags/beta", {"enabled": "maybe"}), "enabled"),
    Case("set flag: unknown org", 404,
         lambda c: j("PUT", f"{V1}/org/{GHOST}/feature_flags/beta", {})),
    Case("list flags", 200, lambda c: j("GET", f"{V1}/org/{c.a.org_id}/feature_flags")),
    Case("list flags: bad org", 400, lambda c: j("GET", f"{V1}/org/x/feature_flags"), "org_id"),
    Case("check flag", 200, lambda c: j("GET", f"{V1}/org/{c.a.org_id}/feature_flags/beta")),
    Case("check flag: unknown org", 404,
         lambda c: j("GET", f"{V1}/org/{GHOST}/feature_flags/beta")),
    Case("remove flag", 200, lambda c: (
        c.ok("PUT", f"{V1}/org/{c.a.org_id}/feature_flags/gone", json={}),
        j("DELETE", f"{V1}/org/{c.a.org_id}/feature_flags/gone"))[1]),
    Case("remove flag: unknown", 404,
         lambda c: j("DELETE", f"{V1}/org/{c.a.org_id}/feature_flags/never")),
    # --- audit log, domains ---------------------------------------------------------
    Case("audit log", 200, lambda c: j("GET", f"{V1}/org/{c.a.org_id}/audit_log", page_size=5)),
    Case("audit log: unknown org", 404, lambda c: j("GET", f"{V1}/org/{GHOST}/audit_log")),
    Case("audit log: bad page", 400,
         lambda c: j("GET", f"{V1}/org/{c.a.org_id}/audit_log", page_size=500), "page_size"),
    Case("add domain", 200, lambda c: j("POST", f"{V1}/org/{c.a.org_id}/domains",
                                        {"domain": f"{c.tag}.example"})),
    Case("add domain: bad", 400, lambda c: j("POST", f"{V1}/org/{c.a.org_id}/domains",
                                             {"domain": "not a domain"}), "domain"),
    Case("add domain: unknown org", 404,
         lambda c: j("POST", f"{V1}/org/{GHOST}/domains", {"domain": "x.example"})),
    Case("remove domain", 200, lambda c: (
        c.ok("POST", f"{V1}/org/{c.a.org_id}/domains", json={"domain": f"{c.tag}.example"}),
        j("DELETE", f"{V1}/org/{c.a.org_id}/domains/{c.tag}.example"))[1]),
    Case("remove domain: not the org's", 400, lambda c: j(
        "DELETE", f"{V1}/org/{c.a.org_id}/domains/other.example"), "domain"),
    Case("remove domain: unknown org", 404,
         lambda c: j("DELETE", f"{V1}/org/{GHOST}/domains/x.example")),
    # --- webhook endpoints (issue 14) ------------------------------------------------
    Case("create webhook endpoint", 200, lambda c: j(
        "POST", f"{V1}/webhook_endpoints", {"url": "https://hooks.example.com/in"})),
    Case("create webhook endpoint: http", 400, lambda c: j(
        "POST", f"{V1}/webhook_endpoints", {"url": "http://hooks.example.com/"}), "url"),
    Case("list webhook endpoints", 200, lambda c: j("GET", f"{V1}/webhook_endpoints")),
    Case("fetch webhook endpoint", 200, lambda c: j(
        "GET", f"{V1}/webhook_endpoints/{_webhook(c)}")),
    Case("fetch webhook endpoint: unknown", 404, lambda c: j(
        "GET", f"{V1}/webhook_endpoints/{GHOST}")),
    Case("update webhook endpoint", 200, lambda c: j(
        "PUT", f"{V1}/webhook_endpoints/{_webhook(c)}", {"enabled": False})),
    Case("delete webhook endpoint", 200, lambda c: j(
        "DELETE", f"{V1}/webhook_endpoints/{_webhook(c)}")),
    Case("rotate webhook secret", 200, lambda c: j(
        "POST", f"{V1}/webhook_endpoints/{_webhook(c)}/rotate_secret", {})),
    Case("replay webhook dead letters", 200, lambda c: j(
        "POST", f"{V1}/webhook_endpoints/{_webhook(c)}/replay", {})),
    Case("webhook dead letters", 200, lambda c: j(
        "GET", f"{V1}/webhook_endpoints/{_webhook(c)}/dead_letters")),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_endpoint(case: Case, client: TestClient, orgs: TwoOrgs) -> None:
    ctx = Ctx(client, orgs, uuid.uuid4().hex[:8])
    method, path, kwargs = case.build(ctx)
    response = client.request(method, path, **kwargs)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if case.status >= 400:
        assert set(body) >= {"error", "message"}
    if case.error_field is not None:
        assert case.error_field in body["fields"], body


def test_every_operation_has_a_happy_path(client: TestClient, orgs: TwoOrgs) -> None:
    """The table gives every documented operation a 200 (or 201) case."""
    schema = client.app.openapi()  # type: ignore[attr-defined]
    operations = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    covered = set()
    for case in CASES:
        if case.status in (200, 201):
            method, path, _ = case.build(Ctx(client, orgs, uuid.uuid4().hex[:8]))
            for op_method, template in operations:
                pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
                if op_method == method and re.match(pattern, path):
                    covered.add((op_method, template))
    assert operations - covered == set()
