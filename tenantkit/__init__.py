"""tenantkit: organizations, members, roles and invites in your own PostgreSQL,
enforced by PostgreSQL row-level security.

The public API is what this module re-exports (what the README imports from
`tenantkit`), plus the integrations in their own submodules: `tenantkit.web`
(with `.fastapi` and `.flask`), `tenantkit.alembic`, `tenantkit.testing`,
`tenantkit.server`, `tenantkit.events`, `tenantkit.orgs` (the management
service's records and options) and `tenantkit.schema` (tenantkit's tables, for
foreign keys and queries). Every other module is internal; see
docs/architecture.md for the map.

Names are imported on first use, so `import tenantkit` stays cheap and
`import tenantkit.tokens` does not pay for SQLAlchemy and psycopg.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tenantkit.context import TenantContext, current_context, tenant_context
from tenantkit.errors import (
    BindingError,
    Conflict,
    ConstraintViolation,
    ContextSwitchInTransaction,
    FeatureDisabled,
    Forbidden,
    InvalidField,
    InvalidTenantContext,
    LimitReached,
    MissingReference,
    MissingTenantContext,
    NotFound,
    NotInTransaction,
    RateLimited,
    StartupCheckFailed,
    TenantkitError,
    Unauthorized,
    UnsafeConnection,
)

if TYPE_CHECKING:
    from tenantkit.authz import (
        require_org_member,
        require_org_member_with_all_permissions,
        require_org_member_with_any_role,
        require_org_member_with_exact_role,
        require_org_member_with_minimum_role,
        require_org_member_with_permission,
        require_org_member_with_two_factor,
        require_user,
    )
    from tenantkit.background import bind_context, create_task, run_with_context, submit
    from tenantkit.database_roles import DatabaseRoles
    from tenantkit.db import (
        BindingKey,
        BindingSigner,
        create_async_engine,
        create_engine,
        install,
    )
    from tenantkit.orgs import Management
    from tenantkit.startup import check_async_engine, check_engine
    from tenantkit.tables import (
        all_permissions,
        any_member,
        api_key,
        deny,
        exact_role,
        minimum_role,
        permission,
        shared_table,
        sql,
        tenant_foreign_key,
        tenant_table,
        tenant_unique,
    )
    from tenantkit.tokens import (
        Auth0Claims,
        ClerkClaims,
        JwksClient,
        KeycloakClaims,
        KeySet,
        LoginMethod,
        OrgMemberInfo,
        Principal,
        PropelAuthClaims,
        SupabaseClaims,
        TokenIssuer,
        TokenVerifier,
        Verifier,
        WorkOSClaims,
    )

# module -> the names it defines, imported on first attribute access.
_FROM: dict[str, tuple[str, ...]] = {
    "tenantkit.db": (
        "BindingKey",
        "BindingSigner",
        "create_async_engine",
        "create_engine",
        "install",
    ),
    "tenantkit.database_roles": ("DatabaseRoles",),
    "tenantkit.tokens": (
        "Auth0Claims",
        "ClerkClaims",
        "JwksClient",
        "KeycloakClaims",
        "KeySet",
        "LoginMethod",
        "OrgMemberInfo",
        "Principal",
        "PropelAuthClaims",
        "SupabaseClaims",
        "TokenIssuer",
        "TokenVerifier",
        "Verifier",
        "WorkOSClaims",
    ),
    "tenantkit.authz": (
        "require_org_member",
        "require_org_member_with_all_permissions",
        "require_org_member_with_any_role",
        "require_org_member_with_exact_role",
        "require_org_member_with_minimum_role",
        "require_org_member_with_permission",
        "require_org_member_with_two_factor",
        "require_user",
    ),
    "tenantkit.tables": (
        "all_permissions",
        "any_member",
        "api_key",
        "deny",
        "exact_role",
        "minimum_role",
        "permission",
        "shared_table",
        "sql",
        "tenant_foreign_key",
        "tenant_table",
        "tenant_unique",
    ),
    "tenantkit.background": ("bind_context", "create_task", "run_with_context", "submit"),
    "tenantkit.orgs": ("Management",),
    "tenantkit.startup": ("check_async_engine", "check_engine"),
}
_LAZY: dict[str, str] = {name: module for module, names in _FROM.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tenantkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Auth0Claims",
    "BindingError",
    "BindingKey",
    "BindingSigner",
    "ClerkClaims",
    "Conflict",
    "ConstraintViolation",
    "ContextSwitchInTransaction",
    "DatabaseRoles",
    "FeatureDisabled",
    "Forbidden",
    "InvalidField",
    "InvalidTenantContext",
    "JwksClient",
    "KeySet",
    "KeycloakClaims",
    "LimitReached",
    "LoginMethod",
    "Management",
    "MissingReference",
    "MissingTenantContext",
    "NotFound",
    "NotInTransaction",
    "OrgMemberInfo",
    "Principal",
    "PropelAuthClaims",
    "RateLimited",
    "StartupCheckFailed",
    "SupabaseClaims",
    "TenantContext",
    "TenantkitError",
    "TokenIssuer",
    "TokenVerifier",
    "Unauthorized",
    "UnsafeConnection",
    "Verifier",
    "WorkOSClaims",
    "all_permissions",
    "any_member",
    "api_key",
    "bind_context",
    "check_async_engine",
    "check_engine",
    "create_async_engine",
    "create_engine",
    "create_task",
    "current_context",
    "deny",
    "exact_role",
    "install",
    "minimum_role",
    "permission",
    "require_org_member",
    "require_org_member_with_all_permissions",
    "require_org_member_with_any_role",
    "require_org_member_with_exact_role",
    "require_org_member_with_minimum_role",
    "require_org_member_with_permission",
    "require_org_member_with_two_factor",
    "require_user",
    "run_with_context",
    "shared_table",
    "sql",
    "submit",
    "tenant_context",
    "tenant_foreign_key",
    "tenant_table",
    "tenant_unique",
]
