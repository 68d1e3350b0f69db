"""tenantkit: organizations, members, roles and invites in your own PostgreSQL,
enforced by PostgreSQL row-level security.

The public API is what this module re-exports; everything else is private.
"""

from tenantkit.context import TenantContext, current_context, tenant_context
from tenantkit.db import create_async_engine, create_engine, install
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
from tenantkit.sqlfiles import DatabaseRoles

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
    "RateLimited",
    "TenantContext",
    "TenantkitError",
    "Unauthorized",
    "UnsafeConnection",
    "create_async_engine",
    "create_engine",
    "current_context",
    "install",
    "tenant_context",
]
