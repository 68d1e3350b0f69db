"""Signing deliveries as the providers do: Svix's own `Webhook.sign` for PropelAuth,
WorkOS's documented scheme for WorkOS (its Python SDK verifies but has no signer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from svix.webhooks import Webhook

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SVIX_SECRET = "whsec_" + base64.b64encode(b"tenantkit-test-svix-secret-32byt").decode()
WORKOS_SECRET = "workos-test-signing-secret"


def svix_msg_id(at: float) -> str:
    """A Svix message id: `msg_` and a KSUID made at `at` (seconds)."""
    number = (int(at) - 1_400_000_000) << 128 | int.from_bytes(secrets.token_bytes(16), "big")
    chars = []
    for _ in range(27):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "msg_" + "".join(reversed(chars))


def svix_delivery(
    payload: dict[str, Any], *, msg_id: str | None = None, at: float | None = None,
    signed_at: float | None = None, secret: str = SVIX_SECRET,
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) as Svix delivers a PropelAuth event; signed by svix itself."""
    body = json.dumps(payload)
    msg_id = msg_id or svix_msg_id(at if at is not None else time.time())
    when = datetime.fromtimestamp(signed_at if signed_at is not None else time.time(), tz=UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return body.encode(), {
        "svix-id": msg_id,
        "svix-timestamp": str(int(when.timestamp())),
        "svix-signature": signature,
        "content-type": "application/json",
    }


def workos_event(event: str, data: dict[str, Any], *, at: float) -> dict[str, Any]:
    """A WorkOS event envelope (id, event, data, created_at)."""
    created = datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds")
    return {"id": "event_" + secrets.token_hex(13).upper(), "event": event, "data": data,
            "created_at": created.replace("+00:00", "Z")}


def workos_delivery(
    payload: dict[str, Any], *, signed_at: float | None = None, secret: str = WORKOS_SECRET
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) with `WorkOS-Signature: t=<ms>, v1=<HMAC-SHA256("<t>.<body>")>`."""
    body = json.dumps(payload).encode()
    stamp = str(int((signed_at if signed_at is not None else time.time()) * 1000))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"workos-signature": f"t={stamp}, v1={digest}",
                  "content-type": "application/json"}
