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
    """The verified user and the org they act in, for one unit of work.

    Both ids are validated as UUIDs here, before anything reaches the database.
    Instances are immutable and hashable.
    """

    __slots__ = ("_params", "org_id", "user_id")

    user_id: str
    org_id: str
    # The set_config parameters, encoded once: binding is on every transaction's path.
    _params: tuple[bytes, bytes]

    def __init__(self, user_id: str | uuid.UUID, org_id: str | uuid.UUID) -> None:
        user = _canonical_uuid("user_id", user_id)
        org = _canonical_uuid("org_id", org_id)
        object.__setattr__(self, "user_id", user)
        object.__setattr__(self, "org_id", org)
        object.__setattr__(self, "_params", (user.encode(), org.encode()))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TenantContext is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TenantContext):
            return NotImplemented
        return self.user_id == other.user_id and self.org_id == other.org_id

    def __hash__(self) -> int:
        return hash((self.user_id, self.org_id))

    def __reduce__(self) -> tuple[type[TenantContext], tuple[str, str]]:
        # Rebuilt through __init__, so a context sent to another process is validated again.
        return (TenantContext, (self.user_id, self.org_id))

    def __repr__(self) -> str:
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
