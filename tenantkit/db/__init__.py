"""Engines, connections and the tenant binding (sync and async)."""

from tenantkit.db._connection import TenantAsyncConnection, TenantConnection
from tenantkit.db._engine import create_async_engine, create_engine, install
from tenantkit.db.signing import BindingKey, BindingSigner

__all__ = [
    "BindingKey",
    "BindingSigner",
    "TenantAsyncConnection",
    "TenantConnection",
    "create_async_engine",
    "create_engine",
    "install",
]
