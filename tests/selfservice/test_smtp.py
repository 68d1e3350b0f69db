"""A full invite round trip through a real SMTP server (aiosmtpd, in the test):
send, receive, follow the link, accept; the membership exists; the link is
single-use and expires."""

from __future__ import annotations

import email
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit.selfservice import SmtpInviteSender, create_app
from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier

from .conftest import Headers

Superuser = psycopg.Connection[tuple[object, ...]]


class Inbox:
    """aiosmtpd's handler: every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.messages.append((envelope, email.message_from_bytes(raw)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def mailing_api(token_issuer: TokenIssuer, app_engine: Engine,
                smtp: tuple[Inbox, int]) -> Iterator[TestClient]:
    sender = SmtpInviteSender("127.0.0.1", smtp[1], sender="invites@tenantkit.test")
    app = create_app(TokenVerifier.for_issuer(token_issuer), app_engine, sender=sender,
                     accept_url="https://app.test/invites/accept?token={token}")
    with TestClient(app) as client:
        yield client


def _link(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    [link] = re.findall(r"https://app\.test/invites/accept\?token=\S+", body.decode())
    return link


def test_invite_round_trip_through_smtp(
    mailing_api: TestClient, smtp: tuple[Inbox, int], auth: Headers,
    make_seed: Callable[[], TwoOrgs], superuser: Superuser,
) -> None:
    orgs: TwoOrgs = make_seed()
    inbox = smtp[0]
    a, invitee = orgs.a, orgs.b.member_id
    address = orgs.emails[invitee]
    sent = mailing_api.post(f"/orgs/{a.org_id}/invites",
                            json={"email": address, "role": "Admin"}, headers=auth(a.owner_id))
    assert sent.status_code == 201, sent.text
    [(envelope, message)] = inbox.messages
    assert envelope.rcpt_tos == [address]
    assert message["To"] == address and message["From"] == "invites@tenantkit.test"
    assert a.name in message["Subject"]
    link = _link(message)
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert token.startswith("tk_inv_")
    # only its hash is at rest
    row = superuser.execute(
        "SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to(%s, 'UTF8'))), "
        "count(*) FILTER (WHERE position(convert_to(%s, 'UTF8') IN token_hash) > 0) "
        "FROM tenantkit.invites WHERE org_id = %s", (token, token, a.org_id)).fetchone()
    assert row == (1, 0)

    accepted = mailing_api.post("/invites/accept", json={"token": token}, headers=auth(invitee))
    assert accepted.status_code == 200 and accepted.json()["org_id"] == a.org_id
    role = superuser.execute("SELECT role FROM tenantkit.memberships WHERE org_id = %s AND "
                             "user_id = %s", (a.org_id, invitee)).fetchone()
    assert role == ("Admin",)
    replay = mailing_api.post("/invites/accept", json={"token": token}, headers=auth(invitee))
    assert replay.status_code == 409
    assert "accepted" in replay.json()["message"]  # a clear reason, not a bare refusal
    listed = mailing_api.get(f"/orgs/{a.org_id}/invites", headers=auth(a.owner_id)).json()
    assert address not in {i["email"] for i in listed["invites"]}


def test_an_expired_link_is_refused(
    mailing_api: TestClient, smtp: tuple[Inbox, int], auth: Headers,
    make_seed: Callable[[], TwoOrgs], superuser: Superuser,
) -> None:
    orgs: TwoOrgs = make_seed()
    a, invitee = orgs.a, orgs.b.owner_id
    mailing_api.post(f"/orgs/{a.org_id}/invites",
                     json={"email": orgs.emails[invitee], "role": "Member",
                           "expires_in_seconds": 60}, headers=auth(a.owner_id))
    token = parse_qs(urlsplit(_link(smtp[0].messages[-1][1])).query)["token"][0]
    superuser.execute("UPDATE tenantkit.invites SET created_at = now() - interval '2 hours', "
                      "expires_at = now() - interval '1 hour' WHERE org_id = %s", (a.org_id,))
    late = mailing_api.post("/invites/accept", json={"token": token}, headers=auth(invitee))
    assert late.status_code == 409 and "expired" in late.json()["message"]
    assert superuser.execute("SELECT count(*) FROM tenantkit.memberships WHERE org_id = %s "
                             "AND user_id = %s", (a.org_id, invitee)).fetchone() == (0,)
    expired = mailing_api.get(f"/orgs/{a.org_id}/invites", params={"state": "expired"},
                              headers=auth(a.owner_id)).json()["invites"]
    assert [i["email"] for i in expired] == [orgs.emails[invitee]]


def test_a_down_mail_server_loses_no_invite(
    token_issuer: TokenIssuer, app_engine: Engine, auth: Headers, make_seed: Callable[[], TwoOrgs],
) -> None:
    orgs: TwoOrgs = make_seed()
    nobody = SmtpInviteSender("127.0.0.1", _free_port(), sender="x@tenantkit.test", timeout=2)
    app = create_app(TokenVerifier.for_issuer(token_issuer), app_engine, sender=nobody,
                     send_attempts=2, send_backoff=0)
    a = orgs.a
    address = f"lost.{uuid.uuid4().hex[:6]}@example.com"
    with TestClient(app) as client:
        made = client.post(f"/orgs/{a.org_id}/invites", json={"email": address, "role": "Member"},
                           headers=auth(a.admin_id))
        assert made.status_code == 201
        [invite] = [i for i in client.get(f"/orgs/{a.org_id}/invites", headers=auth(a.admin_id))
                    .json()["invites"] if i["email"] == address]
    assert invite["state"] == "pending"
    assert (invite["delivery_state"], invite["delivery_attempts"]) == ("failed", 2)
    assert "ConnectionRefusedError" in invite["delivery_error"]
