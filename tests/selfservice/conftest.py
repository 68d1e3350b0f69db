"""The end-user API under test: the app role's engine, tokens that claim no org
(so every membership answer comes from the database), and a recording sender."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit.selfservice import InviteMessage, create_app
from tenantkit.tokens import TokenIssuer, TokenVerifier

Headers = Callable[[str], dict[str, str]]


class RecordingSender:
    """Keeps every message; fails the next `fail` sends."""

    def __init__(self) -> None:
        self.sent: list[InviteMessage] = []
        self.fail = 0

    def send(self, message: InviteMessage) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("mail server unreachable")
        self.sent.append(message)


@pytest.fixture(scope="session")
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture(scope="session")
def selfservice_app(token_issuer: TokenIssuer, app_engine: Engine,
                    sender: RecordingSender) -> FastAPI:
    return create_app(TokenVerifier.for_issuer(token_issuer), app_engine, sender=sender,
                      accept_url="https://app.test/accept?token={token}", send_backoff=0)


@pytest.fixture(scope="session")
def api(selfservice_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(selfservice_app) as client:
        yield client


@pytest.fixture(scope="session")
def auth(token_issuer: TokenIssuer) -> Headers:
    """Headers for `user_id`, with a token that names no org at all."""
    def headers(user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_issuer.issue(user_id=user_id)}"}
    return headers
