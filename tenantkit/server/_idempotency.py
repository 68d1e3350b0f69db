"""`Idempotency-Key` on the backend API's POSTs: the same answer, and no duplicate, on retry.

Pure ASGI middleware, inside `RequestGuard` (so the body it reads is bounded):
for a POST carrying the header and a valid integration key, the first request
claims `(api key, Idempotency-Key)` in `tenantkit.idempotency_keys` (committed
at once, so a concurrent retry sees it), runs, and stores its status and body.
A retry with the same key and the same request gets that answer again, with
`Idempotent-Replayed: true`; with a different request, or while the first is
still running, a 409. 5xx answers are not kept (the retry runs again). Keys are
kept a day. Without the header nothing changes.

An answer that carries a secret shown once (an invite token, an API key, an
access token, a webhook signing secret) is never stored: secrets are hashed or
encrypted at rest everywhere else. Its retry is a 409 saying so, and still
makes no duplicate.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any, Final

import anyio.to_thread
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantkit.errors import Conflict, InvalidField, TenantkitError
from tenantkit.schema import idempotency_keys as ik

__all__ = ["HEADER", "IdempotencyKeys"]

HEADER: Final = b"idempotency-key"
KEEP_FOR: Final = timedelta(days=1)
MAX_KEY_LENGTH: Final = 255
#: Keys and values that mean an answer carries a secret shown once.
_SECRET_KEYS: Final = frozenset({"token", "secret", "access_token", "api_key_token"})
_SECRET_VALUE: Final = re.compile(r"^(?:tk_(?:inv|int|org|usr)_|whsec_|eyJ[\w-]+\.eyJ)")


class IdempotencyKeys:
    """ASGI middleware; reads the engine and integration keys from `app.state.tenantkit`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = [v for k, v in scope["headers"] if k == HEADER]
        if not headers:
            await self.app(scope, receive, send)
            return
        try:
            key = _key(headers)
            actor = await anyio.to_thread.run_sync(
                scope["app"].state.tenantkit.keys.actor, _authorization(scope))
        except InvalidField as error:
            await _answer(send, error.status_code, _json(error))
            return
        except TenantkitError:  # no valid key: the route answers 401 as usual
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        digest = hashlib.sha256(b"\0".join([scope["method"].encode(), scope["path"].encode(),
                                            scope.get("query_string", b""), body])).digest()
        engine = scope["app"].state.tenantkit.engine
        api_key_id = actor.api_key_id
        stored = await anyio.to_thread.run_sync(_claim, engine, api_key_id, key, digest)
        if stored is not None:
            status, response = stored
            if isinstance(response, TenantkitError):
                await _answer(send, response.status_code, _json(response))
            else:
                await _answer(send, status, response, replayed=True)
            return

        captured: dict[str, Any] = {"status": 500, "body": b""}

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent or not more:  # the body once; then whatever the client does next
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay, capture)
        finally:
            await anyio.to_thread.run_sync(_finish, engine, api_key_id, key,
                                           int(captured["status"]), bytes(captured["body"]))


def _key(headers: list[bytes]) -> str:
    if len(headers) != 1:
        raise InvalidField("Idempotency-Key", "give one Idempotency-Key header")
    try:
        key = headers[0].decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidField("Idempotency-Key", "must be visible ASCII") from None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidField("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} visible characters")
    return key


def _authorization(scope: Scope) -> str | None:
    found = [v for k, v in scope["headers"] if k == b"authorization"]
    return found[0].decode("latin-1") if len(found) == 1 else None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _claim(engine: Any, api_key_id: str | None, key: str,
           digest: bytes) -> tuple[int, bytes | TenantkitError] | None:
    """None: this request runs. Else the stored answer, or the refusal to give."""
    where = [ik.c.api_key_id == api_key_id, ik.c.idempotency_key == key]
    with engine.begin() as conn:
        conn.execute(delete(ik).where(*where, ik.c.created_at < func.now() - KEEP_FOR))
        claimed = conn.execute(
            insert(ik).values(api_key_id=api_key_id, idempotency_key=key, request_hash=digest)
            .on_conflict_do_nothing().returning(ik.c.idempotency_key)).first()
        if claimed is not None:
            return None
        row = conn.execute(select(ik.c.request_hash, ik.c.status, ik.c.response)
                           .where(*where)).one()
    if bytes(row.request_hash) != digest:
        return 409, Conflict("this Idempotency-Key was used for a different request")
    if row.status is None:
        return 409, Conflict("a request with this Idempotency-Key is still running; retry later")
    if row.response is None:
        return 409, Conflict("the first answer to this Idempotency-Key carried a secret shown "
                             "once, which is not kept; the request is not run again")
    return int(row.status), bytes(row.response)


def _finish(engine: Any, api_key_id: str | None, key: str, status: int, body: bytes) -> None:
    where = [ik.c.api_key_id == api_key_id, ik.c.idempotency_key == key]
    with engine.begin() as conn:
        if status >= 500:  # not an answer to keep: the retry runs again
            conn.execute(delete(ik).where(*where, ik.c.status.is_(None)))
        else:
            kept = None if _carries_secret(body) else body
            conn.execute(update(ik).where(*where).values(status=status, response=kept))


def _carries_secret(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return False
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in _SECRET_KEYS and isinstance(item, str) and item:
                    return True
                pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and _SECRET_VALUE.match(value):
            return True
    return False


def _json(error: TenantkitError) -> bytes:
    return json.dumps(error.to_dict()).encode()


async def _answer(send: Send, status: int, body: bytes, *, replayed: bool = False) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
