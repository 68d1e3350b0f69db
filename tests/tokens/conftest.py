from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The shared fixtures other areas use; imported so these tests also run without the plugin.
from tenantkit.testing._tokens import token_issuer, token_verifier  # noqa: F401
from tenantkit.tokens import TokenVerifier

from ._helpers import ISSUER, FakeClock


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_public_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(rsa_public_pem: bytes, clock: FakeClock) -> TokenVerifier:
    """PropelAuth-style: one pinned PEM key, RS256, no cache (every call is a full check)."""
    return TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, clock=clock, cache_size=0)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail any outgoing connection; the list records attempted addresses."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object, *args: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"unexpected network call to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


class FakeServer:
    """An HTTP server on 127.0.0.1 that answers every GET with `respond()` and counts requests.

    `hold()` makes it wait before answering until `release()`; `arrived` is set as
    soon as a request is in.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.status = 200
        self.body: bytes = b"{}"
        self.headers: dict[str, str] = {}
        self.arrived = threading.Event()
        self._held: threading.Event | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.arrived.set()
                if server._held is not None:
                    server._held.wait(30)
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def serve_json(self, document: object) -> None:
        self.status = 200
        self.body = json.dumps(document).encode()

    def hold(self) -> None:
        """Answer nothing until `release()`."""
        self.arrived.clear()
        self._held = threading.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()
            self._held = None

    def close(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def http_server() -> Iterator[Callable[[], FakeServer]]:
    """A factory of fake HTTP servers, all shut down after the test."""
    servers: list[FakeServer] = []

    def start() -> FakeServer:
        servers.append(FakeServer())
        return servers[-1]

    yield start
    for server in servers:
        server.close()
