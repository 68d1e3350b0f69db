"""The credential in an `Authorization: Bearer <credential>` header (RFC 6750).

One parser for both doors: the web integration reads access tokens with it, the
backend API integration keys.
"""

from __future__ import annotations

import re
from typing import Final

from tenantkit.errors import Unauthorized

__all__ = ["bearer_token"]

# One run of visible ASCII, scanned in C (a per-character Python loop over a
# kilobyte token was most of the middleware's cost). NUL, control characters and
# anything beyond ASCII never reach the verifier, the key hash or the database.
_CREDENTIAL: Final = re.compile(r"[\x21-\x7e]+")


def bearer_token(
    authorization: str | None, *, credential: str = "token", max_length: int | None = None
) -> str:
    """The credential of an `Authorization: Bearer <credential>` header (scheme in any case).

    `Unauthorized` for a missing or blank header, another scheme, or a credential
    that is not one run of visible ASCII or is longer than `max_length`. The
    message names `credential` ("token", "integration API key") and never echoes
    the header.
    """
    if authorization is None or not authorization.strip():
        raise Unauthorized("no authorization header")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if (
        scheme.lower() != "bearer"
        or _CREDENTIAL.fullmatch(value) is None
        or (max_length is not None and len(value) > max_length)
    ):
        raise Unauthorized(f"invalid authorization header; expected: Bearer <{credential}>")
    return value
