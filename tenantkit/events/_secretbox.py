"""Webhook signing secrets at rest: encrypted under the application's key when it has one.

The worker needs the raw secret to sign, so it cannot be hashed like an API
key. Only the service role can read `tenantkit.webhook_endpoints` (the app
role has no privilege on it at all). With `TENANTKIT_EVENTS_KEY` set (a
base64 32-byte key; `tenantkit events keygen` makes one), secrets are also
encrypted with AES-256-GCM, bound to their endpoint id, so a database dump or
a role that reads the table does not yield a secret. Several keys, separated
by commas, decrypt; the first encrypts (key rotation). Without a key, secrets
are stored as they are, and `unencrypted()` says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantkit.errors import TenantkitError

__all__ = ["ENV_KEY", "SecretBox", "SecretUnavailable", "new_key"]

ENV_KEY = "TENANTKIT_EVENTS_KEY"
_PREFIX = "tkenc1:"


class SecretUnavailable(TenantkitError):
    """A stored secret cannot be decrypted with the keys this process has."""

    code = "secret_unavailable"


def new_key() -> str:
    """A fresh key for `TENANTKIT_EVENTS_KEY`."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True)
class SecretBox:
    """Seals and opens signing secrets; `keys` empty means stored unencrypted."""

    keys: Sequence[bytes] = ()

    @classmethod
    def from_env(cls) -> SecretBox:
        """The keys in $TENANTKIT_EVENTS_KEY (comma-separated base64), or none."""
        return cls.from_text(os.environ.get(ENV_KEY, ""))

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        keys = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            try:
                key = base64.b64decode(part, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{ENV_KEY} must be base64 keys separated by commas") from None
            if len(key) != 32:
                raise ValueError(f"{ENV_KEY} keys must be 32 bytes (tenantkit events keygen)")
            keys.append(key)
        return cls(tuple(keys))

    def unencrypted(self) -> bool:
        return not self.keys

    def seal(self, secret: str, endpoint_id: str) -> str:
        """What to store for `secret` of `endpoint_id`."""
        if not self.keys:
            return secret
        key = self.keys[0]
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, secret.encode(), endpoint_id.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{_PREFIX}{_key_id(key)}:{blob}"

    def open(self, stored: str, endpoint_id: str) -> str:
        """The secret `stored` holds; SecretUnavailable when no key here opens it."""
        if not stored.startswith(_PREFIX):
            return stored
        key_id, _, blob = stored[len(_PREFIX):].partition(":")
        for key in self.keys:
            if _key_id(key) != key_id:
                continue
            raw = base64.urlsafe_b64decode(blob)
            try:
                return AESGCM(key).decrypt(raw[:12], raw[12:], endpoint_id.encode()).decode()
            except InvalidTag:
                break
        raise SecretUnavailable(
            f"the endpoint's signing secret is encrypted under key {key_id}, "
            f"which {ENV_KEY} does not hold")
