"""Signed binding: the app's HMAC over the ids it binds (migration 0006).

The app process holds the secret (configuration, an environment variable or a
file; never the database's roles). Each bound transaction carries
`tenantkit.signature = '<key id>:<expiry>:<backend pid>:<hex HMAC-SHA256>'`
over `tenantkit-binding-v1|<user>|<org>|<key id>|<expiry>|<backend pid>` (an org
API key principal: `tenantkit-apikey-v1|<api key id>|<org>|...`, 0010), and
the database, holding the verifier where only its owner reads it, takes the
ids for nothing unless it verifies (`sql/0006_signed_binding_views.sql`).

`TENANTKIT_BINDING_SECRET` holds one key or several, comma-separated, as
`<key id>:<base64url secret>`; the first signs, and every one listed must be
live in the database. `tenantkit keys binding new` prints one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tenantkit.sqlfiles import load_sql

__all__ = [
    "ENV_VAR",
    "BindingKey",
    "BindingSigner",
    "add_key",
    "list_keys",
    "pads",
    "retire_key",
    "set_signing",
    "signing_state",
]

ENV_VAR: Final = "TENANTKIT_BINDING_SECRET"
_KEY_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
#: Signatures are made for a window: the expiry is rounded, so one signature
#: serves every transaction of a context for `_STEP` seconds (no HMAC per
#: transaction), and still expires at most `ttl` seconds after it was made.
_STEP: Final = 15


@dataclass(frozen=True)
class BindingKey:
    """One binding key: its id (as the database knows it) and its secret."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("a binding key id is 1-32 letters, digits, '_' or '-'")
        if not isinstance(self.secret, bytes) or not 32 <= len(self.secret) <= 64:
            raise ValueError("a binding secret is 32 to 64 random bytes")

    @classmethod
    def generate(cls, key_id: str) -> BindingKey:
        return cls(key_id, secrets.token_bytes(32))

    @classmethod
    def parse(cls, text: str) -> BindingKey:
        """`<key id>:<base64url secret>`, as `str(key)`... never printed by repr."""
        key_id, sep, encoded = text.strip().partition(":")
        if not sep:
            raise ValueError("a binding key is '<key id>:<base64url secret>'")
        try:
            secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise ValueError("the binding secret is not base64url") from exc
        return cls(key_id, secret)

    def export(self) -> str:
        """The `<key id>:<base64url secret>` form the environment variable takes."""
        return f"{self.key_id}:{base64.urlsafe_b64encode(self.secret).decode().rstrip('=')}"

    def mac(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()


def pads(key: BindingKey) -> tuple[bytes, bytes]:
    """HMAC-SHA256's (key XOR ipad, key XOR opad), the verifier the database stores."""
    block = key.secret.ljust(64, b"\x00")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


class BindingSigner:
    """Signs bindings with the first of `keys`; checks them all at first connection."""

    __slots__ = ("keys", "ttl")

    def __init__(self, keys: Sequence[BindingKey], *, ttl: int = 60) -> None:
        if not keys:
            raise ValueError("a BindingSigner needs at least one key")
        if ttl < 2 * _STEP:
            raise ValueError(f"ttl must be at least {2 * _STEP} seconds")
        self.keys = tuple(keys)
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"BindingSigner(keys={[k.key_id for k in self.keys]!r}, ttl={self.ttl})"

    @classmethod
    def from_env(cls, variable: str = ENV_VAR) -> BindingSigner | None:
        """The signer `variable` configures (a file path with a leading '@'), or None."""
        return cls.parse(os.environ.get(variable, ""))

    @classmethod
    def parse(cls, text: str) -> BindingSigner | None:
        """Keys as TENANTKIT_BINDING_SECRET holds them (comma-separated, or @path); or None."""
        text = text.strip()
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as file:
                text = file.read().strip()
        if not text:
            return None
        return cls([BindingKey.parse(part) for part in text.split(",") if part.strip()])

    @property
    def key(self) -> BindingKey:
        return self.keys[0]

    def expiry(self, now: float | None = None) -> int:
        moment = int(time.time() if now is None else now)
        return moment - moment % _STEP + self.ttl

    def sign(self, user_id: str, org_id: str, backend_pid: int, expiry: int) -> bytes:
        """The `tenantkit.signature` value for this binding."""
        key = self.key
        head = f"{key.key_id}:{expiry}:{backend_pid}"
        message = f"tenantkit-binding-v1|{user_id}|{org_id}|{key.key_id}|{expiry}|{backend_pid}"
        return f"{head}:{key.mac(message)}".encode()

    def sign_api_key(self, api_key_id: str, org_id: str, backend_pid: int, expiry: int) -> bytes:
        """The `tenantkit.signature` value for a key principal (migration 0010).

        Its own message prefix: a user binding's signature never verifies as a
        key's, nor the other way round, whatever the ids.
        """
        key = self.key
        head = f"{key.key_id}:{expiry}:{backend_pid}"
        message = f"tenantkit-apikey-v1|{api_key_id}|{org_id}|{key.key_id}|{expiry}|{backend_pid}"
        return f"{head}:{key.mac(message)}".encode()

    @staticmethod
    def check_mac(key: BindingKey) -> str:
        """What the first-connection check sends for `key`."""
        return key.mac(f"tenantkit-binding-check|{key.key_id}")


# --- the verifier, managed as the owner ---------------------------------------------


def _sql(name: str) -> str:
    # The files number their parameters ($1); psycopg takes them by name here.
    lines = (line.split("--", 1)[0].rstrip() for line in load_sql(f"signing/{name}").splitlines())
    text = "\n".join(line for line in lines if line.strip())
    return re.sub(r"\$(\d+)", r"%(p\1)s", text)


def _args(*values: object) -> dict[str, object]:
    return {f"p{i}": value for i, value in enumerate(values, 1)}


def add_key(conn: Any, key: BindingKey) -> None:
    """Store `key`'s verifier (a psycopg connection as the owner; the caller commits)."""
    inner, outer = pads(key)
    conn.execute(_sql("add_key.sql"), _args(key.key_id, inner, outer))


def retire_key(conn: Any, key_id: str) -> bool:
    """Retire `key_id`; False when no live key had that id."""
    return bool(conn.execute(_sql("retire_key.sql"), _args(key_id)).rowcount)


def set_signing(conn: Any, on: bool) -> bool:
    """Turn signed binding on or off; False when on was asked with no live key."""
    return bool(conn.execute(_sql("set_signing.sql"), _args(on)).rowcount)


def list_keys(conn: Any) -> list[tuple[Any, ...]]:
    """(key id, created, retired, signing on) per key."""
    return list(conn.execute(_sql("list_keys.sql")).fetchall())


def signing_state(conn: Any) -> tuple[bool, int]:
    """(signed binding on, number of live keys), read as the owner."""
    row = conn.execute(_sql("state.sql")).fetchone()
    return bool(row[0]), int(row[1])
