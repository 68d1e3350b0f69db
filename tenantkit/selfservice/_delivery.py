"""Invite delivery: an `InviteSender` protocol, SMTP and console senders, and retry.

An invite is committed first and sent afterwards, so a mail server that is down
never loses an invite: each attempt's outcome is recorded on the invite
(`delivery_state` sent or failed, `delivery_attempts`, `delivery_error`), which
the inviter sees in the invite list and can act on (resend).
"""

from __future__ import annotations

import smtplib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol, TextIO
from urllib.parse import quote

__all__ = [
    "ConsoleInviteSender",
    "InviteMessage",
    "InviteSender",
    "SmtpInviteSender",
    "accept_link",
    "send_with_retry",
]


@dataclass(frozen=True, slots=True)
class InviteMessage:
    """What an invitee is told: who invites them where, and the link to accept."""

    to: str
    org_name: str
    role: str
    inviter_email: str | None
    accept_url: str
    expires_at: datetime

    def subject(self) -> str:
        return f"You are invited to join {self.org_name}"

    def body(self) -> str:
        who = self.inviter_email or "A member"
        return (f"{who} invited you to join {self.org_name} as {self.role}.\n\n"
                f"Accept the invitation:\n{self.accept_url}\n\n"
                f"The link works once and expires at {self.expires_at:%Y-%m-%d %H:%M} UTC.\n")


class InviteSender(Protocol):
    """Sends one invite message; raises on failure (the caller retries and records)."""

    def send(self, message: InviteMessage) -> None: ...


def accept_link(template: str, token: str) -> str:
    """`template` with `{token}` replaced by the URL-quoted token."""
    return template.replace("{token}", quote(token, safe=""))


class ConsoleInviteSender:
    """Development: writes each invite to a stream (stderr) instead of mailing it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: InviteMessage) -> None:
        stream = self._stream or sys.stderr
        stream.write(f"[invite] to {message.to}: {message.subject()}\n{message.body()}\n")
        stream.flush()


class SmtpInviteSender:
    """Sends invites through an SMTP server with the standard library's smtplib.

    starttls: upgrade the connection before logging in (use it whenever
    `username` is given over a network).
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout

    def send(self, message: InviteMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject()
        mail.set_content(message.body())
        with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username is not None:
                smtp.login(self._username, self._password or "")
            smtp.send_message(mail)


def send_with_retry(
    sender: InviteSender,
    message: InviteMessage,
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    record: Callable[[bool, str | None], None],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Send, retrying with exponential backoff; `record(sent, error)` after every attempt.

    True once sent. After the last failed attempt the invite stays pending,
    marked failed, for the inviter to see and resend.
    """
    for attempt in range(attempts):
        try:
            sender.send(message)
        except Exception as exc:  # any failure of the sender is a failed send
            record(False, f"{type(exc).__name__}: {exc}")
            if attempt + 1 < attempts:
                sleep(backoff * 2**attempt)
            continue
        record(True, None)
        return True
    return False
