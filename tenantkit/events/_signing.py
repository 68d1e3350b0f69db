"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, signed with
HMAC-SHA256 under the base64-decoded part of a `whsec_` secret; the header is
`v1,<base64 signature>`, several separated by spaces while a rotated secret is
still valid. Receivers verify with any Standard Webhooks or Svix library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from tenantkit.errors import InvalidField

__all__ = ["SECRET_PREFIX", "check_secret", "new_secret", "sign", "signature_headers"]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a label, not a secret)
_SECRET_BYTES = 32
_MIN_BYTES, _MAX_BYTES = 24, 64


def new_secret() -> str:
    """A fresh `whsec_` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def check_secret(field: str, secret: object) -> str:
    """`secret` if it is a `whsec_` secret of 24 to 64 bytes (e.g. one brought from Svix)."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidField(field, "must be a whsec_ secret")
    try:
        size = len(_key(secret))
    except (binascii.Error, ValueError):
        raise InvalidField(field, "must be whsec_ followed by base64") from None
    if not _MIN_BYTES <= size <= _MAX_BYTES:
        raise InvalidField(field, f"must hold {_MIN_BYTES} to {_MAX_BYTES} bytes")
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` for `body` under `secret`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (current first)."""
    if not secrets_:
        raise ValueError("at least one secret is needed to sign")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
    }
