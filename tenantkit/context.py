"""Who the current unit of work acts for: `TenantContext` in a `ContextVar`.

The standard library's `contextvars` is used on purpose: asyncio copies the
context into each task, so concurrent requests never see each other's
identity, and a thread started without `copy_context()` sees none (it fails
closed). The engine installed by `tenantkit.install` reads the variable at
every transaction begin.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from tenantkit.errors import InvalidTenantContext

__all__ = ["UUID_ANY_CASE", "UUID_PATTERN", "TenantContext", "current_context", "tenant_context"]

#: A canonical, lower-case, hyphenated UUID: the only id form tenantkit binds to
#: the database, and tenantkit's one UUID pattern. uuid.UUID() would also take
#: braces, URNs and bare hex, which no token issuer emits and which only widen the
#: input surface. Where upper case is accepted (the web layer, the REST API), the
#: value is lower-cased and then matched against this.
UUID_PATTERN: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: The same pattern with the hex digits in either case, as text, for JSON Schema
#: (the REST API's OpenAPI document), which has no case-insensitive flag.
UUID_ANY_CASE: Final = UUID_PATTERN.pattern.replace("a-f", "a-fA-F")


def _canonical_uuid(field: str, value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        lowered = value.lower()
        if len(lowered) == 36 and UUID_PATTERN.fullmatch(lowered):
            return lowered
    raise InvalidTenantContext(f"{field} must be a UUID (8-4-4-4-12 hex digits)")


class TenantContext:
    """Who acts and in which org, for one unit of work: a verified user, or an org API key.

    `TenantContext(user_id, org_id)` is a user acting in an org;
    `TenantContext.for_api_key(api_key_id, org_id)` is an org API key acting in
    its org (a *key principal*: `user_id` is None, and the database binds the
    key's id, never its secret). Every id is validated as a UUID here, before
    anything reaches the database. Instances are immutable and hashable.
    """

    __slots__ = ("_params", "api_key_id", "org_id", "user_id")

    user_id: str | None
    org_id: str
    #: The org API key acting, for a key principal (then `user_id` is None).
    api_key_id: str | None
    # The bind parameters (user, org, key; b'' for the absent one), encoded once:
    # binding is on every transaction's path.
    _params: tuple[bytes, bytes, bytes]

    def __init__(self, user_id: str | uuid.UUID, org_id: str | uuid.UUID) -> None:
        self._set(_canonical_uuid("user_id", user_id), _canonical_uuid("org_id", org_id), None)

    @classmethod
    def for_api_key(cls, api_key_id: str | uuid.UUID, org_id: str | uuid.UUID) -> TenantContext:
        """An org API key acting in its org (the database checks the key is live)."""
        ctx = cls.__new__(cls)
        ctx._set(None, _canonical_uuid("org_id", org_id), _canonical_uuid("api_key_id", api_key_id))
        return ctx

    def _set(self, user: str | None, org: str, key: str | None) -> None:
        object.__setattr__(self, "user_id", user)
        object.__setattr__(self, "org_id", org)
        object.__setattr__(self, "api_key_id", key)
        params = ((user or "").encode(), org.encode(), (key or "").encode())
        object.__setattr__(self, "_params", params)

    @property
    def is_api_key(self) -> bool:
        """True for a key principal."""
        return self.api_key_id is not None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TenantContext is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TenantContext):
            return NotImplemented
        return (self.user_id, self.org_id, self.api_key_id) == (
            other.user_id, other.org_id, other.api_key_id
        )

    def __hash__(self) -> int:
        return hash((self.user_id, self.org_id, self.api_key_id))

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        # Rebuilt through the constructors, so a context sent to another process
        # is validated again.
        if self.api_key_id is not None:
            return (TenantContext.for_api_key, (self.api_key_id, self.org_id))
        assert self.user_id is not None
        return (TenantContext, (self.user_id, self.org_id))

    def __repr__(self) -> str:
        if self.api_key_id is not None:
            return f"TenantContext.for_api_key({self.api_key_id!r}, org_id={self.org_id!r})"
        return f"TenantContext(user_id={self.user_id!r}, org_id={self.org_id!r})"


_current: ContextVar[TenantContext | None] = ContextVar("tenantkit.context", default=None)


def current_context() -> TenantContext | None:
    """The context bound in this task or thread, or None."""
    return _current.get()


@contextmanager
def tenant_context(ctx: TenantContext | None) -> Iterator[TenantContext | None]:
    """Bind `ctx` for the block; every transaction begun inside is bound to it.

    Nesting is allowed (the inner block wins until it exits), but changing the
    context while a transaction is open raises `ContextSwitchInTransaction` at
    that transaction's next statement. `None` explicitly unbinds.
    """
    if ctx is not None and not isinstance(ctx, TenantContext):
        raise TypeError("tenant_context() takes a TenantContext or None")
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
