"""A JWKS fetch never holds the event loop: requests wait for it on a thread, or not at all.

The fake JWKS server holds its answer until the test releases it, so "the loop is
free" is observed, not timed: the test's own coroutine can only see the request
arrive (and then release it) while the verification awaits elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tenantkit.errors import Unauthorized
from tenantkit.tokens import JwksClient, TokenIssuer, TokenVerifier
from tenantkit.tokens import _jwks as jwks_module
from tenantkit.web import TenantMiddleware
from tenantkit.web._types import Message, Scope

from ._helpers import ISSUER, USER, FakeClock
from .conftest import FakeServer

pytestmark = pytest.mark.nodb

INTERVAL = 30.0
TTL = 300.0


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def old_key(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(rsa_key, issuer=ISSUER, kid="2025-01", clock=clock)


@pytest.fixture
def new_key(clock: FakeClock) -> TokenIssuer:
    return TokenIssuer.generate(issuer=ISSUER, kid="2025-02", clock=clock)


@pytest.fixture
def server(http_server: Callable[[], FakeServer], old_key: TokenIssuer) -> FakeServer:
    server = http_server()
    server.serve_json(old_key.jwks())
    return server


def make(server: FakeServer, clock: FakeClock, monotonic: FakeClock, **options: Any) -> tuple[
    JwksClient, TokenVerifier
]:
    client = JwksClient(
        server.url, min_refresh_interval=INTERVAL, cache_ttl=TTL, clock=monotonic, **options
    )
    return client, TokenVerifier(issuer=ISSUER, keys=client, clock=clock, cache_size=0)


async def arrived(server: FakeServer) -> bool:
    """Whether the server saw a request (waited for on a thread: only a free loop gets here)."""
    return await asyncio.to_thread(server.arrived.wait, 10)


async def test_verify_async_waits_for_the_first_fetch_on_a_thread(
    server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    _client, verifier = make(server, clock, monotonic, timeout=1.0)
    server.hold()
    task = asyncio.create_task(verifier.verify_async(old_key.issue(user_id=USER)))
    assert await arrived(server)
    assert not task.done()  # the fetch is in flight, and this coroutine still runs
    server.release()
    assert (await task).user_id == USER
    assert server.requests == ["/"]


async def test_a_fetch_on_the_loop_would_stall_it(
    server: FakeServer,
    old_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Protection off: the fetch runs on the loop's thread, as a plain sync fetch did."""
    client, verifier = make(server, clock, monotonic, timeout=0.5)
    monkeypatch.setattr(jwks_module, "_on_event_loop", lambda: False)

    async def on_the_loop(kid: str | None) -> Any:
        return client.get_key(kid)

    monkeypatch.setattr(client, "get_key_async", on_the_loop)
    server.hold()
    task = asyncio.create_task(verifier.verify_async(old_key.issue(user_id=USER)))
    assert await arrived(server)
    # Nothing else ran on the loop until the fetch gave up: the task is already over.
    assert task.done()
    with pytest.raises(Unauthorized, match="signing keys are unavailable"):
        task.result()
    server.release()


async def test_prefetch_at_startup_means_no_request_fetches(
    server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    _client, verifier = make(server, clock, monotonic)
    await verifier.prefetch()
    assert server.requests == ["/"]
    for _ in range(3):
        assert (await verifier.verify_async(old_key.issue(user_id=USER))).user_id == USER
    assert server.requests == ["/"]


async def test_prefetch_reports_an_unreachable_endpoint(
    server: FakeServer, clock: FakeClock, monotonic: FakeClock
) -> None:
    server.status = 503
    _client, verifier = make(server, clock, monotonic)
    with pytest.raises(RuntimeError, match="HTTP status 503"):
        await verifier.prefetch()


async def test_pinned_keys_need_no_prefetch(
    rsa_public_pem: bytes, old_key: TokenIssuer, clock: FakeClock
) -> None:
    verifier = TokenVerifier(issuer=ISSUER, public_key_pem=rsa_public_pem, clock=clock)
    await verifier.prefetch()
    assert (await verifier.verify_async(old_key.issue(user_id=USER))).user_id == USER


async def test_a_plain_verify_on_the_loop_answers_from_held_keys_and_refreshes_behind(
    server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    client, verifier = make(server, clock, monotonic)
    await verifier.prefetch()
    monotonic.now += TTL  # the set is stale: a sync caller off the loop would refetch first
    server.hold()
    # Answered at once from the set already held, while the refetch waits on the server.
    assert verifier.verify(old_key.issue(user_id=USER)).user_id == USER
    assert await arrived(server)
    server.release()
    await asyncio.to_thread(_join, client)
    assert len(server.requests) == 2


async def test_a_plain_verify_on_the_loop_refuses_a_new_kid_until_fetched_behind(
    server: FakeServer,
    old_key: TokenIssuer,
    new_key: TokenIssuer,
    clock: FakeClock,
    monotonic: FakeClock,
) -> None:
    client, verifier = make(server, clock, monotonic)
    await verifier.prefetch()
    server.serve_json({"keys": old_key.jwks()["keys"] + new_key.jwks()["keys"]})
    monotonic.now += INTERVAL
    server.hold()
    with pytest.raises(Unauthorized, match="token key id is unknown"):
        verifier.verify(new_key.issue(user_id=USER))  # no waiting on the loop
    assert await arrived(server)
    server.release()
    await asyncio.to_thread(_join, client)
    assert verifier.verify(new_key.issue(user_id=USER)).user_id == USER


async def test_the_middleware_serves_other_requests_while_a_fetch_is_in_flight(
    server: FakeServer, old_key: TokenIssuer, clock: FakeClock, monotonic: FakeClock
) -> None:
    _client, verifier = make(server, clock, monotonic, timeout=1.0)
    served: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = TenantMiddleware(app, verifier=verifier, public_paths=["/healthz"])

    async def call(path: str, token: str | None) -> int:
        headers = [] if token is None else [(b"authorization", f"Bearer {token}".encode())]
        scope: Scope = {"type": "http", "path": path, "headers": headers, "query_string": b""}
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await middleware(scope, receive, send)
        return int(sent[0]["status"])

    server.hold()
    first = asyncio.create_task(call("/notes", old_key.issue(user_id=USER)))
    assert await arrived(server)
    assert await call("/healthz", None) == 200  # served while the first request waits
    assert served == ["/healthz"] and not first.done()
    server.release()
    assert await first == 200
    assert served == ["/healthz", "/notes"]


def _join(client: JwksClient) -> None:
    """Wait for the client's background refetch, if one was started."""
    thread: threading.Thread | None = client._background
    if thread is not None:
        thread.join(10)
