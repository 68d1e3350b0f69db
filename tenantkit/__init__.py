"""tenantkit: organizations, members, roles and invites in your own PostgreSQL,
enforced by PostgreSQL row-level security.

The public API is what this module re-exports; everything else is private.
Names are imported on first use, so `import tenantkit.tokens` does not pay for
SQLAlchemy and psycopg, and `import tenantkit` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tenantkit.context import TenantContext, current_context, tenant_context
from tenantkit.errors import (
    BindingError,
    Conflict,
    ContextSwitchInTransaction,
    FeatureDisabled,
    Forbidden,
    InvalidField,
    InvalidTenantContext,
    LimitReached,
    MissingTenantContext,
    NotFound,
    NotInTransaction,
    RateLimited,
    TenantkitError,
    Unauthorized,
    UnsafeConnection,
)

if TYPE_CHECKING:
    from tenantkit.authz import (
        require_org_member,
        require_org_member_with_all_permissions,
        require_org_member_with_exact_role,
        require_org_member_with_minimum_role,
        require_org_member_with_permission,
        require_user,
    )
    from tenantkit.database_roles import DatabaseRoles
    from tenantkit.db import create_async_engine, create_engine, install
    from tenantkit.tables import shared_table, tenant_foreign_key, tenant_table, tenant_unique
    from tenantkit.tokens import (
        OrgMemberInfo,
        Principal,
        PropelAuthClaims,
        TokenIssuer,
        TokenVerifier,
        WorkOSClaims,
    )

# name -> module that defines it, imported on first attribute access.
_LAZY: dict[str, str] = {
    "create_engine": "tenantkit.db",
    "create_async_engine": "tenantkit.db",
    "install": "tenantkit.db",
    "DatabaseRoles": "tenantkit.database_roles",
    "TokenVerifier": "tenantkit.tokens",
    "TokenIssuer": "tenantkit.tokens",
    "Principal": "tenantkit.tokens",
    "OrgMemberInfo": "tenantkit.tokens",
    "PropelAuthClaims": "tenantkit.tokens",
    "WorkOSClaims": "tenantkit.tokens",
    "require_user": "tenantkit.authz",
    "require_org_member": "tenantkit.authz",
    "require_org_member_with_exact_role": "tenantkit.authz",
    "require_org_member_with_minimum_role": "tenantkit.authz",
    "require_org_member_with_permission": "tenantkit.authz",
    "require_org_member_with_all_permissions": "tenantkit.authz",
    "tenant_table": "tenantkit.tables",
    "shared_table": "tenantkit.tables",
    "tenant_unique": "tenantkit.tables",
    "tenant_foreign_key": "tenantkit.tables",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tenantkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BindingError",
    "Conflict",
    "ContextSwitchInTransaction",
    "DatabaseRoles",
    "FeatureDisabled",
    "Forbidden",
    "InvalidField",
    "InvalidTenantContext",
    "LimitReached",
    "MissingTenantContext",
    "NotFound",
    "NotInTransaction",
    "OrgMemberInfo",
    "Principal",
    "PropelAuthClaims",
    "RateLimited",
    "TenantContext",
    "TenantkitError",
    "TokenIssuer",
    "TokenVerifier",
    "Unauthorized",
    "UnsafeConnection",
    "WorkOSClaims",
    "create_async_engine",
    "create_engine",
    "current_context",
    "install",
    "require_org_member",
    "require_org_member_with_all_permissions",
    "require_org_member_with_exact_role",
    "require_org_member_with_minimum_role",
    "require_org_member_with_permission",
    "require_user",
    "shared_table",
    "tenant_context",
    "tenant_foreign_key",
    "tenant_table",
    "tenant_unique",
]
