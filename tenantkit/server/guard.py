"""`RequestGuard`: what a request must be before any handler, key lookup or database work.

Pure ASGI, outermost in `create_app`. In this order, each refusal a typed JSON
body like every other error of the server:
1. headers: printable, one `Authorization` of visible ASCII (else 401), no
   control characters in any other header (else 400);
2. `Content-Length`: digits (else 400), at most `max_body_bytes` (else 413,
   answered without reading the body);
3. path and query string: UTF-8 without NUL, control characters or lone
   surrogates (`tenantkit.server._strings`; else 400);
4. body: read while it arrives, and refused with 413 as soon as it exceeds
   `max_body_bytes`, whatever Content-Length said (or without one, chunked):
   never more than the limit plus one received chunk is held in memory;
5. body: strict UTF-8 JSON (no duplicate keys, NaN or Infinity), every key and
   string checked as in 3 (else 400).
The app then receives the body it would have read, in one message.
"""

from __future__ import annotations

import json
import re
from typing import Final
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantkit import _strict_json
from tenantkit.errors import InvalidField, TenantkitError, Unauthorized
from tenantkit.server._errors import PayloadTooLarge
from tenantkit.server._strings import check_json, check_text, is_field_name

__all__ = ["DEFAULT_MAX_BODY_BYTES", "RequestGuard", "check_max_body_bytes"]

#: 1 MiB: far above any request of this API, far below what hurts a server.
DEFAULT_MAX_BODY_BYTES: Final = 1 << 20

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 header names
_VISIBLE_ASCII: Final = re.compile(rb"[\x20-\x7e]*")
_HEADER_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB
_DIGITS: Final = re.compile(rb"[0-9]{1,20}")
_ESCAPED_BYTE: Final = re.compile("[\udc80-\udcff]")  # surrogateescape's undecodable bytes


def check_max_body_bytes(value: object) -> int:
    """`value` if it is a positive int (a misconfiguration fails at startup, not per request)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("max_body_bytes must be an int")
    if value < 1:
        raise ValueError("max_body_bytes must be positive")
    return value


class RequestGuard:
    """Refuse oversized bodies (413) and hostile strings (400/401) before the app runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = check_max_body_bytes(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = _check_headers(scope["headers"])
            if declared is not None and declared > self.max_body_bytes:
                raise self._too_large()
            _check_target(scope)
            body = await self._read_body(receive)
            if body is None:
                return  # the client went away
            _check_body(body)
        except TenantkitError as error:
            await _refuse(send, error)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # http.disconnect
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()  # the rest is never read
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _check_headers(headers: list[tuple[bytes, bytes]]) -> int | None:
    """Refuse hostile headers; the declared Content-Length, if any."""
    authorizations = 0
    lengths: set[bytes] = set()
    for name, value in headers:
        if _TOKEN.fullmatch(name) is None:
            raise InvalidField("headers", "a header name is not an HTTP token")
        lowered = name.lower()
        if lowered == b"authorization":
            authorizations += 1
            if authorizations > 1 or _VISIBLE_ASCII.fullmatch(value) is None:
                raise Unauthorized("expected Authorization: Bearer <integration API key>")
        elif _HEADER_CONTROL.search(value) is not None:
            field = lowered.decode("ascii")[:64]
            raise InvalidField(f"header {field}", "must not contain control characters")
        elif lowered == b"content-length":
            lengths.add(value.strip())
    if not lengths:
        return None
    if len(lengths) > 1 or _DIGITS.fullmatch(next(iter(lengths))) is None:
        raise InvalidField("content-length", "must be one decimal number")
    return int(next(iter(lengths)))


def _check_target(scope: Scope) -> None:
    path: str = scope["path"]
    why = check_text(path)
    if why is not None:
        raise InvalidField("path", why)
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path:
        # Servers decode the path leniently (a bad escape becomes U+FFFD); refuse it instead.
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidField("path", "must be UTF-8") from None
    query: bytes = scope.get("query_string", b"")
    if not query:
        return
    # As Starlette parses it, but a bad UTF-8 escape is refused rather than replaced
    # (surrogateescape marks its bytes, and no valid UTF-8 decodes to a surrogate).
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="surrogateescape")
    for key, value in pairs:
        why = _query_text(key)
        if why is not None:
            raise InvalidField("query", why)
        why = _query_text(value)
        if why is not None:
            raise InvalidField(key if is_field_name(key) else "query", why)


def _query_text(text: str) -> str | None:
    if _ESCAPED_BYTE.search(text) is not None:
        return "must be UTF-8"
    return check_text(text)


def _check_body(body: bytes) -> None:
    if not body:
        return
    try:
        document = _strict_json.loads(body)
    except UnicodeDecodeError:
        raise InvalidField("body", "must be UTF-8 JSON") from None
    except _strict_json.DuplicateKeyError:
        raise InvalidField("body", "must not repeat a key in an object") from None
    except ValueError:
        raise InvalidField("body", "must be a JSON document") from None
    refused = check_json(document)
    if refused is not None:
        raise InvalidField(*refused)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: http.disconnect, when it comes

    return replay


async def _refuse(send: Send, error: TenantkitError) -> None:
    body = json.dumps(error.to_dict(), separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if isinstance(error, PayloadTooLarge):
        # The unread rest of the body would otherwise be the next request's start.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
