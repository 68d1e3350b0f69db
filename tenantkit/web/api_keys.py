"""Org API keys as request credentials: where a request carries one, and telling it from a token.

    keys = ApiKeyCredentials(OrgApiKeyVerifier(service_engine))          # both places
    keys = ApiKeyCredentials(verifier, header="x-api-key", bearer=False)  # header only

A request carries at most one credential:
- `header` (default `x-api-key`, None to turn it off): the key's secret as the
  whole header value;
- `bearer` (default on): `Authorization: Bearer <secret>`, taken for a key when
  the verifier says it is shaped like one (`tk_org_...`), for a token otherwise.
An API key header *and* an Authorization header, or a repeated one, is 401:
never guess which one the client meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tenantkit.errors import Unauthorized
from tenantkit.tokens import ApiKeyVerifier, bearer_token
from tenantkit.web._extractors import Ambiguous, RequestView

__all__ = ["DEFAULT_HEADER", "ApiKeyCredentials", "Credentials", "read_credentials"]

DEFAULT_HEADER: Final = "x-api-key"
# The bearer parser's rule for a credential: one run of visible ASCII, bounded.
_SECRET: Final = re.compile(r"[\x21-\x7e]{1,200}")
_HEADER_NAME: Final = re.compile(r"[a-z0-9-]{1,64}")


@dataclass(frozen=True, slots=True)
class ApiKeyCredentials:
    """Accept org API keys: the verifier, and where requests may carry a key."""

    verifier: ApiKeyVerifier
    header: str | None = DEFAULT_HEADER
    bearer: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.verifier, ApiKeyVerifier):
            raise TypeError(
                "verifier must be a tenantkit.tokens.ApiKeyVerifier "
                "(is_api_key, verify_api_key, verify_api_key_async)"
            )
        if self.header is not None:
            lowered = self.header.lower()
            if not _HEADER_NAME.fullmatch(lowered) or lowered == "authorization":
                raise ValueError("header must be a header name other than Authorization")
            object.__setattr__(self, "header", lowered)
        if self.header is None and not self.bearer:
            raise ValueError("an API key needs a place to travel: a header, bearer, or both")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request carried: the Authorization header (a token) or an API key's secret."""

    authorization: str | None
    api_key: str | None = None


def read_credentials(view: RequestView, api_keys: ApiKeyCredentials | None) -> Credentials:
    """The request's one credential (401 when repeated, doubled or malformed)."""
    try:
        authorization = view.header("authorization")
    except Ambiguous:
        raise Unauthorized("more than one authorization header") from None
    if api_keys is None:
        return Credentials(authorization)
    if api_keys.header is not None:
        try:
            secret = view.header(api_keys.header)
        except Ambiguous:
            raise Unauthorized(f"more than one {api_keys.header} header") from None
        if secret is not None:
            if authorization is not None:
                raise Unauthorized(
                    f"send one credential: an Authorization header or {api_keys.header}, not both"
                )
            secret = secret.strip()
            if not _SECRET.fullmatch(secret):
                raise Unauthorized("invalid API key")
            return Credentials(None, secret)
    if api_keys.bearer and authorization is not None:
        credential = bearer_token(authorization, credential="token or API key")
        if api_keys.verifier.is_api_key(credential):
            if len(credential) > 200:
                raise Unauthorized("invalid API key")
            return Credentials(None, credential)
    return Credentials(authorization)
