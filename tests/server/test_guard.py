"""The backend API's request guard: the body-size limit (413) and hostile headers,
paths, query strings and bodies (400, or 401 for Authorization), all answered
before a handler, a key lookup or a pool checkout.

The ASGI app is called directly where the property is about what is read: a
`receive` that counts the bytes it hands out shows that an oversized body is
never read beyond the limit, whether Content-Length is absent or lies.
"""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tenantkit.server import create_app
from tenantkit.server._strings import MAX_DEPTH, check_json, check_text
from tenantkit.server.guard import DEFAULT_MAX_BODY_BYTES, RequestGuard
from tests.server.test_auth import OPERATIONS, concrete
from tests.web.conftest import CheckoutCounter

V1 = "/api/backend/v1"
CHUNK = 64 * 1024
LIMIT = 16 * 1024


@pytest.fixture(scope="module")
def small_limit(api_engine: Engine) -> FastAPI:
    return create_app(api_engine, max_body_bytes=LIMIT)


@pytest.fixture
def checkouts(api_engine: Engine) -> CheckoutCounter:
    return CheckoutCounter(api_engine)


def scope_for(
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "POST",
    query: bytes = b"",
    raw_path: bytes | None = None,
) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8", "surrogatepass"),
        "root_path": "", "query_string": query,
        "headers": [(b"host", b"test"), *headers],
        "server": ("test", 80), "client": ("127.0.0.1", 1),
    }


class Body:
    """A `receive` handing out a body in chunks, counting what it handed out."""

    def __init__(self, total: int | None, chunk: int = CHUNK) -> None:
        self.remaining = total  # None: endless
        self.chunk = chunk
        self.handed_out = 0

    async def __call__(self) -> dict[str, Any]:
        size = self.chunk if self.remaining is None else min(self.chunk, self.remaining)
        if self.remaining is not None:
            self.remaining -= size
        self.handed_out += size
        more = self.remaining is None or self.remaining > 0
        return {"type": "http.request", "body": b" " * size, "more_body": more}


async def run(app: Any, scope: dict[str, Any], receive: Any) -> tuple[int, dict[bytes, bytes],
                                                                      dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), json.loads(body)


async def never(*_args: object) -> dict[str, Any]:
    raise AssertionError("the body must not be read")


def auth(key: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {key}".encode())


# --- the body-size limit ------------------------------------------------------------


async def test_declared_oversize_is_413_without_reading_the_body(
    small_limit: FastAPI, integration_key: str, checkouts: CheckoutCounter
) -> None:
    headers = [auth(integration_key), (b"content-type", b"application/json"),
               (b"content-length", str(LIMIT + 1).encode())]
    status, response_headers, body = await run(small_limit, scope_for(f"{V1}/org/", headers),
                                               never)
    assert status == 413
    assert body == {"error": "payload_too_large", "message": f"request body exceeds {LIMIT} bytes"}
    assert response_headers[b"connection"] == b"close"
    assert checkouts.count == 0


@pytest.mark.parametrize("declared", [None, b"10", str(LIMIT).encode()],
                         ids=["chunked", "lying-content-length", "content-length-at-limit"])
async def test_streamed_oversize_is_413_reading_at_most_one_chunk_past_the_limit(
    small_limit: FastAPI, integration_key: str, checkouts: CheckoutCounter,
    declared: bytes | None,
) -> None:
    headers = [auth(integration_key), (b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", declared))
    endless = Body(None, chunk=1024)
    status, _headers, body = await run(small_limit, scope_for(f"{V1}/org/", headers), endless)
    assert status == 413
    assert body["error"] == "payload_too_large"
    assert endless.handed_out <= LIMIT + 1024
    assert checkouts.count == 0


async def test_default_limit_is_one_mebibyte_while_streaming(
    app: FastAPI, integration_key: str
) -> None:
    assert DEFAULT_MAX_BODY_BYTES == 1 << 20
    endless = Body(None)
    headers = [auth(integration_key), (b"content-type", b"application/json")]
    status, _headers, _body = await run(app, scope_for(f"{V1}/org/", headers), endless)
    assert status == 413
    assert DEFAULT_MAX_BODY_BYTES < endless.handed_out <= DEFAULT_MAX_BODY_BYTES + CHUNK


def test_a_body_at_the_limit_is_served_one_byte_more_is_not(
    small_limit: FastAPI, integration_key: str
) -> None:
    client = TestClient(small_limit, headers={"Authorization": f"Bearer {integration_key}",
                                              "Content-Type": "application/json"})
    document = b'{"page_size": 1}'
    at_limit = document + b" " * (LIMIT - len(document))
    response = client.post(f"{V1}/org/query", content=at_limit)
    assert response.status_code == 200, response.text
    response = client.post(f"{V1}/org/query", content=at_limit + b" ")
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_the_default_limit_serves_a_large_body(app: FastAPI, integration_key: str) -> None:
    client = TestClient(app, headers={"Authorization": f"Bearer {integration_key}",
                                      "Content-Type": "application/json"})
    big = json.dumps({"name": "big", "metadata": {"blob": "x" * (DEFAULT_MAX_BODY_BYTES // 2)}})
    assert client.post(f"{V1}/org/", content=big).status_code == 201
    padded = b'{"page_size": 1}' + b" " * DEFAULT_MAX_BODY_BYTES
    assert client.post(f"{V1}/org/query", content=padded).status_code == 413


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda x: str(x))
def test_every_operation_has_the_limit(
    small_limit: FastAPI, integration_key: str, method: str, path: str
) -> None:
    client = TestClient(small_limit, headers={"Authorization": f"Bearer {integration_key}"})
    response = client.request(method, concrete(path), content=b" " * (LIMIT + 1),
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_limit_is_validated_at_startup(api_engine: Engine) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            create_app(api_engine, max_body_bytes=bad)
    for wrong in (True, 1.5, "1"):
        with pytest.raises(TypeError):
            create_app(api_engine, max_body_bytes=wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RequestGuard(create_app(api_engine), max_body_bytes=0)


@pytest.fixture(scope="module")
def server_url(small_limit: FastAPI) -> Iterator[str]:
    """The small-limit app behind a real uvicorn on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(small_limit, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def exchange(server_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def test_over_real_http(server_url: str, integration_key: str) -> None:
    # The clients send only part of their body and then wait: the server answers
    # and closes without waiting for (or reading) the rest.
    head = (f"POST {V1}/org/query HTTP/1.1\r\nHost: test\r\n"
            f"Authorization: Bearer {integration_key}\r\nContent-Type: application/json\r\n")
    chunk = b" " * (LIMIT + 1)
    chunked = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + (
        f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    declared = (head + f"Content-Length: {100 * LIMIT}\r\n\r\n").encode() + b" " * 100
    for request in (chunked, declared):
        status, headers, body = exchange(server_url, request)
        assert status == 413
        assert headers["connection"] == "close"
        assert json.loads(body)["error"] == "payload_too_large"
    fine = httpx.post(f"{server_url}{V1}/org/query", json={"page_size": 1},
                      headers={"Authorization": f"Bearer {integration_key}"})
    assert fine.status_code == 200


# --- hostile headers, paths and query strings ------------------------------------------


@pytest.mark.parametrize("value", [b"Bearer a\x00b", b"Bearer \x01", b"Bearer \xff", b"\x7f",
                                   b"Bearer tk_int_\xc3\xa9", b"Bearer a\tb"])
async def test_hostile_authorization_is_401(
    app: FastAPI, value: bytes, checkouts: CheckoutCounter
) -> None:
    status, _h, body = await run(app, scope_for(f"{V1}/custom_role_mappings",
                                                [(b"authorization", value)], method="GET"), never)
    assert (status, body["error"]) == (401, "unauthorized")
    assert checkouts.count == 0


async def test_two_authorization_headers_are_401(app: FastAPI, integration_key: str) -> None:
    headers = [auth(integration_key), auth(integration_key)]
    status, _h, _body = await run(app, scope_for(f"{V1}/custom_role_mappings", headers,
                                                 method="GET"), never)
    assert status == 401


@pytest.mark.parametrize(("header", "field"), [
    ((b"x-trace", b"a\x00b"), "header x-trace"),
    ((b"x-trace", b"a\nb"), "header x-trace"),
    ((b"x-trace", b"\x1b[31m"), "header x-trace"),
    ((b"x trace", b"1"), "headers"),
    ((b"content-length", b"12a"), "content-length"),
    ((b"content-length", b"-1"), "content-length"),
])
async def test_hostile_headers_are_400(
    app: FastAPI, integration_key: str, header: tuple[bytes, bytes], field: str
) -> None:
    scope = scope_for(f"{V1}/custom_role_mappings", [auth(integration_key), header], method="GET")
    status, _h, body = await run(app, scope, never)
    assert status == 400
    assert list(body["fields"]) == [field]


async def test_two_different_content_lengths_are_400(app: FastAPI, integration_key: str) -> None:
    headers = [auth(integration_key), (b"content-length", b"2"), (b"content-length", b"3")]
    status, _h, body = await run(app, scope_for(f"{V1}/org/", headers), never)
    assert (status, list(body["fields"])) == (400, ["content-length"])


@pytest.mark.parametrize(("path", "query", "raw_path", "field"), [
    (f"{V1}/org/\x00", b"", None, "path"),
    (f"{V1}/org/\ud800", b"", None, "path"),
    (f"{V1}/org/x\x85", b"", None, "path"),
    (f"{V1}/org/\ufffd", b"", f"{V1}/org/%ED%A0%80".encode(), "path"),  # a server's lenient decode
    (f"{V1}/user/query", b"email_or_username=a%00b", None, "email_or_username"),
    (f"{V1}/user/query", b"email_or_username=%ED%A0%80", None, "email_or_username"),
    (f"{V1}/user/query", b"email_or_username=%ff", None, "email_or_username"),
    (f"{V1}/user/query", b"%ff=1", None, "query"),
    (f"{V1}/user/query", b"email_or_username=\x85", None, "email_or_username"),
    (f"{V1}/user/query", b"%00=1", None, "query"),
    (f"{V1}/user/query", b"x=1&y=%01", None, "y"),
    (f"{V1}/user/query", b"a%0Ab=1&x=%01", None, "query"),  # the first refusal: a key
    (f"{V1}/user/query", b"\xe2\x80\xae%01=1", None, "query"),  # a key that is no field name
])
async def test_hostile_paths_and_queries_are_400(
    app: FastAPI, integration_key: str, checkouts: CheckoutCounter,
    path: str, query: bytes, raw_path: bytes | None, field: str,
) -> None:
    scope = scope_for(path, [auth(integration_key)], method="GET", query=query, raw_path=raw_path)
    status, _h, body = await run(app, scope, never)
    assert status == 400, body
    assert list(body["fields"]) == [field]
    assert checkouts.count == 0


# --- hostile bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    (b'{"name": "\xff"}', "body"),
    ('{"name": "x"}'.encode("utf-16"), "body"),
    (b'\xef\xbb\xbf{"name": "x"}', "body"),
    (b'{"name": "a", "name": "b"}', "body"),
    (b'{"name": "x", "metadata": {"n": NaN}}', "body"),
    (b'{"name": "x", "metadata": {"n": 1e400}}', "metadata"),
    (b'{"name": "x", "metadata": {"n": ' + b"9" * 5000 + b"}}", "body"),
    (b'{"name": "x", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body"),
    (b'{"name": "x", "metadata": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
     "metadata"),
    (b'{"name": "a\\u0000b"}', "name"),
    (b'{"name": "a\\ud800b"}', "name"),
    (b'{"name": "a\\udc00"}', "name"),
    (b'{"name": "a\\u001bb"}', "name"),
    (b'{"name": "a\\nb"}', "name"),
    (b'{"name": "a\xc2\x85b"}', "name"),  # NEL, sent raw: JSON does not require escaping C1
    (b'{"name": "x", "metadata": {"note": "a\\u0000"}}', "metadata"),
    (b'{"name": "x", "metadata": {"a\\nb": 1}}', "metadata"),
    (b'{"name": "x", "metadata": {"deep": [{"x": "\\u0007"}]}}', "metadata"),
    (b'{"name": "x", "extra_domains": ["ok.example", "b\\u0000d.example"]}', "extra_domains"),
    (b'{"na\\u0000me": "x"}', "body"),
    (b'{"\\u202e\\u0001": "x"}', "body"),
    (b"not json", "body"),
])
async def test_hostile_bodies_are_400(
    app: FastAPI, integration_key: str, checkouts: CheckoutCounter, body: bytes, field: str
) -> None:
    headers = [auth(integration_key), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        assert not sent
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, _h, answer = await run(app, scope_for(f"{V1}/org/", headers), receive)
    assert status == 400, answer
    assert answer["error"] == "invalid_field"
    assert list(answer["fields"]) == [field]
    assert checkouts.count == 0


def test_free_text_keeps_tab_newline_and_return(client: TestClient) -> None:
    note = "line one\n\tline two\r\n"
    response = client.post(f"{V1}/org/", json={"name": "notes", "metadata": {"note": note}})
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == {"note": note}
    response = client.post(f"{V1}/org/", json={"name": "line\none"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"name": "must not contain control characters"}


def test_refusals_name_the_field_and_never_echo_the_value() -> None:
    assert check_json({"roles": [{"name": "ok"}, {"name": "a\x00"}]}) == (
        "roles.name", "must not contain NUL characters")
    assert check_json({"metadata": {"secret\x01": 1}}) == (
        "metadata", "keys must not contain control characters")
    assert check_json({"metadata": {"x": {"y": "\ud800"}}}) == (
        "metadata", "must be valid Unicode text (it contains an unpaired surrogate)")
    assert check_json({"a" * 65: "\x00"}) == ("body", "must not contain NUL characters")
    assert check_json({"n": math.inf}) == ("n", "must be a finite number")
    assert check_json({"name": "ok", "metadata": {"t": "a\tb"}}) is None
    assert check_text("a\tb") == "must not contain control characters"
    assert check_text("a\tb", free_text=True) is None
    assert check_text("ordinary text, émoji 🎉, 中文") is None


def test_the_app_receives_the_body_it_would_have_read(client: TestClient) -> None:
    # The guard reads the body first; the handler must still see all of it, once.
    body = {"name": "replayed", "metadata": {"blob": "y" * 200_000}}
    response = client.post(f"{V1}/org/", json=body)
    assert response.status_code == 201
    assert response.json()["metadata"] == body["metadata"]


def test_a_bare_guard_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    import asyncio

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent for a lifespan scope")

    guard = RequestGuard(inner)
    asyncio.run(guard({"type": "lifespan"}, never, send))
    assert seen == ["lifespan"]
