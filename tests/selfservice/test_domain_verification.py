"""Domain verification by DNS TXT record, against a real DNS server started here
(dnslib), read with dnspython: a wrong or missing record stays pending, the
right one verifies, and only verified domains auto-join."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import dns.resolver
import psycopg
import pytest
import sqlalchemy as sa
from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit import TenantContext, tenant_context
from tenantkit.orgs import Actor, Management
from tenantkit.server import create_app
from tenantkit.server.cli import create_integration_key
from tenantkit.testing import TestDatabase, TwoOrgs

from .conftest import Headers

V1 = "/api/backend/v1"


class Zone(BaseResolver):  # type: ignore[misc]
    """TXT records by name; everything else: an empty answer."""

    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if request.q.qtype == QTYPE.TXT:
            for value in self.txt.get(name, []):
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
        return reply


@pytest.fixture(scope="module")
def zone() -> Iterator[tuple[Zone, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    records = Zone()
    server = DNSServer(records, port=port, address="127.0.0.1")
    server.start_thread()
    try:
        yield records, port
    finally:
        server.stop()


@pytest.fixture(scope="module")
def backend(tenantkit_db: TestDatabase, service_engine: Engine,
            zone: tuple[Zone, int]) -> Iterator[TestClient]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = zone[1]
    key = create_integration_key(tenantkit_db.url("service"), "dns tests")
    app = create_app(service_engine, dns_resolver=resolver)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def _joined(service_engine: Engine, org_id: str, domain: str) -> bool:
    """Whether a new user with a confirmed email at `domain` auto-joins `org_id`."""
    with service_engine.begin() as conn:
        user = Management(conn, Actor.service()).users.create(
            f"new.{uuid.uuid4().hex[:6]}@{domain}", email_confirmed=True)
        found = conn.execute(sa.text("SELECT count(*) FROM tenantkit.memberships WHERE "
                                     "org_id = :o AND user_id = :u"),
                             {"o": org_id, "u": user.user_id}).scalar()
    return found == 1


def test_a_domain_verifies_only_with_its_txt_record(
    api: TestClient, backend: TestClient, auth: Headers, zone: tuple[Zone, int],
    make_seed: Any, service_engine: Engine,
) -> None:
    orgs: TwoOrgs = make_seed()
    a = orgs.a
    records = zone[0]
    domain = f"v{uuid.uuid4().hex[:8]}.example"
    asked = api.post(f"/orgs/{a.org_id}/domains", json={"domain": domain},
                     headers=auth(a.owner_id)).json()
    name, token = asked["txt_record_name"], asked["txt_record_value"]
    with service_engine.begin() as conn:  # auto-join on, by the backend
        conn.execute(sa.text("UPDATE tenantkit.orgs SET domain_autojoin = true "
                             "WHERE org_id = :o"), {"o": a.org_id})
    verify = f"{V1}/org/{a.org_id}/domain_verifications/{domain}/verify"

    # no record at all: pending, and the domain counts for nothing
    assert backend.post(verify).json()["state"] == "pending"
    assert not _joined(service_engine, a.org_id, domain)
    # a wrong record (another token, or the right one under another name): pending
    records.txt[name] = ["tenantkit-domain-verification=not-the-token"]
    records.txt[domain] = [token]
    assert backend.post(verify).json()["state"] == "pending"
    assert not _joined(service_engine, a.org_id, domain)

    records.txt[name] = ["v=spf1 -all", token]
    verified = backend.post(verify)
    assert verified.status_code == 200 and verified.json()["state"] == "verified"
    org = api.get(f"/orgs/{a.org_id}", headers=auth(a.owner_id)).json()
    assert domain in [org["domain"], *org["extra_domains"]]
    assert _joined(service_engine, a.org_id, domain)
    # a verified domain stays verified, until the org takes it off (a Member may not)
    assert backend.post(verify).json()["state"] == "verified"
    assert api.delete(f"/orgs/{a.org_id}/domains/{domain}",
                      headers=auth(a.member_id)).status_code == 403
    assert api.delete(f"/orgs/{a.org_id}/domains/{domain}",
                      headers=auth(a.owner_id)).status_code == 204
    org = api.get(f"/orgs/{a.org_id}", headers=auth(a.owner_id)).json()
    assert domain not in [org["domain"], *org["extra_domains"]]
    assert api.get(f"/orgs/{a.org_id}/domains", headers=auth(a.owner_id)).json() == {
        "domains": []}
    assert not _joined(service_engine, a.org_id, domain)
    assert api.delete(f"/orgs/{a.org_id}/domains/{domain}",
                      headers=auth(a.owner_id)).status_code == 404


def test_an_end_user_cannot_mark_a_domain_verified(
    app_engine: Engine, make_seed: Any, api: TestClient, auth: Headers,
) -> None:
    orgs: TwoOrgs = make_seed()
    a = orgs.a
    domain = f"x{uuid.uuid4().hex[:8]}.example"
    api.post(f"/orgs/{a.org_id}/domains", json={"domain": domain}, headers=auth(a.owner_id))
    ctx = TenantContext(a.owner_id, a.org_id)
    attempts = [
        ("UPDATE tenantkit.org_domain_verifications SET state = 'verified' "
         "WHERE org_id = :o", {"o": a.org_id}),
        ("INSERT INTO tenantkit.org_domain_verifications (org_id, domain, state) "
         "VALUES (:o, 'gmail.com', 'verified')", {"o": a.org_id}),
        ("INSERT INTO tenantkit.org_domain_verifications (org_id, domain, token) "
         "VALUES (:o, 'gmail.com', 'mine')", {"o": a.org_id}),
    ]
    for statement, params in attempts:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), \
                tenant_context(ctx), app_engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    with pytest.raises(Exception, match="backend work"), \
            tenant_context(ctx), app_engine.begin() as conn:
        Management(conn).domains.confirm(a.org_id, domain, ["anything"])


def test_no_other_org_sees_or_asks_for_a_domain_request(
    app_engine: Engine, make_seed: Any, api: TestClient, auth: Headers,
    superuser: psycopg.Connection[tuple[object, ...]],
) -> None:
    orgs: TwoOrgs = make_seed()
    a, b = orgs.a, orgs.b
    api.post(f"/orgs/{a.org_id}/domains", json={"domain": "only-a.example"},
             headers=auth(a.owner_id))
    with tenant_context(TenantContext(b.owner_id, b.org_id)), app_engine.begin() as conn:
        seen = conn.execute(sa.text("SELECT org_id FROM tenantkit.org_domain_verifications"))
        assert {str(r[0]) for r in seen} <= {b.org_id}
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), \
            tenant_context(TenantContext(b.owner_id, b.org_id)), app_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO tenantkit.org_domain_verifications (org_id, domain) "
                             "VALUES (:o, 'sneak.example')"), {"o": a.org_id})
    row = superuser.execute("SELECT count(*) FROM tenantkit.org_domain_verifications "
                            "WHERE domain = 'sneak.example'").fetchone()
    assert row == (0,)
