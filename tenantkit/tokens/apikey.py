"""An org API key as the caller: `ApiKeyPrincipal`, and `ApiKeyVerifier`, what the web
adapters need from anything that turns a key's secret into one.

A key principal is a `Principal` (so it flows through the same adapters and
`require_*` checks) that is no user:
- `user_id` is "" (a `TenantContext` cannot be built from it: binding a key as
  a user fails with `InvalidTenantContext`); `api_key_id` names the key;
- it lists one org, the key's, with the key's permissions and no role
  (`user_role` is ""), so permission checks apply to it and role checks never
  pass; `tenantkit.authz` refuses role checks for a key with `ApiKeyRefused`.

The snapshot here is the key as it was when validated (perhaps cached for a few
seconds); the database checks the key is still live on every statement.
`tenantkit.orgs.OrgApiKeyVerifier` implements the protocol on a service-role
engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

from tenantkit.tokens.principal import OrgMemberInfo, Principal

__all__ = ["ORG_KEY_PREFIX", "ApiKeyPrincipal", "ApiKeyVerifier"]

#: How every org API key's secret begins (`tenantkit.orgs.ApiKeys.create`).
ORG_KEY_PREFIX: Final = "tk_org_"


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal(Principal):
    """An org API key acting in its org: its id, the org, its permissions; no user, no role."""

    api_key_id: str = ""
    api_key_name: str = ""
    #: When the key stops working (Unix seconds), None: never.
    api_key_expires_at: int | None = None

    @classmethod
    def of(
        cls,
        api_key_id: str,
        org_id: str,
        permissions: Iterable[str] = (),
        *,
        name: str = "",
        expires_at: int | None = None,
        org_name: str | None = None,
    ) -> ApiKeyPrincipal:
        """The principal of a validated key."""
        if isinstance(permissions, str):
            raise TypeError("permissions must be a collection of str, such as a list")
        info = OrgMemberInfo(
            org_id=org_id, user_role="", user_permissions=tuple(permissions), org_name=org_name
        )
        return cls(
            user_id="",
            org_id_to_org_member_info=MappingProxyType({org_id: info}),
            active_org_id=org_id,
            api_key_id=api_key_id,
            api_key_name=name,
            api_key_expires_at=expires_at,
        )

    @property
    def org_id(self) -> str:
        """The org the key belongs to (the only org it can act in)."""
        assert self.active_org_id is not None
        return self.active_org_id

    @property
    def permissions(self) -> tuple[str, ...]:
        """The key's permissions, as validated."""
        return self.org_id_to_org_member_info[self.org_id].user_permissions


@runtime_checkable
class ApiKeyVerifier(Protocol):
    """Validates an org API key's secret and returns its principal, or raises `Unauthorized`."""

    def is_api_key(self, credential: str) -> bool:
        """Whether a bearer credential is shaped like one of these keys (not a token)."""
        ...

    def verify_api_key(self, secret: str) -> ApiKeyPrincipal:
        """The key's principal (sync adapters: Flask); `Unauthorized` if unknown,
        archived or expired."""
        ...

    async def verify_api_key_async(self, secret: str) -> ApiKeyPrincipal:
        """The same, for async adapters; never blocks the event loop."""
        ...
