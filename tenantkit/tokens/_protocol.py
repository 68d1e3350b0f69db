"""`Verifier`: what the web adapters need from anything that turns a token into a `Principal`.

`TokenVerifier` satisfies it, and so does `tenantkit.identity.ResolvingVerifier`
(which wraps one and maps a provider's ids to tenantkit's), or any class of the
app's own with these two methods. Both raise a `TenantkitError` to refuse
(`Unauthorized` for a bad token, `Forbidden` for an identity tenantkit does not
know), and must not block the event loop in `verify_async`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tenantkit.tokens.principal import Principal

__all__ = ["Verifier"]


@runtime_checkable
class Verifier(Protocol):
    """Verifies a bearer token and returns the caller, or raises a `TenantkitError`."""

    def verify(self, token: str | bytes) -> Principal:
        """The principal of a valid token (sync adapters: Flask)."""
        ...

    async def verify_async(self, token: str | bytes) -> Principal:
        """The same, for async adapters; never blocks the event loop."""
        ...
