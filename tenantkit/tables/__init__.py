"""Tenant tables: declare them on SQLAlchemy models or tables; tenantkit enforces them.

    from tenantkit.tables import tenant_table, minimum_role

    @tenant_table(delete=minimum_role("Admin"))
    class Document(Base): ...

The rules and the SQL they become live in `tenantkit.rls`; this package binds
them to SQLAlchemy metadata.
"""

from tenantkit.rls import (
    Rule,
    TableName,
    TenancySpec,
    all_permissions,
    any_member,
    api_key,
    deny,
    exact_role,
    minimum_role,
    permission,
    sql,
)
from tenantkit.tables.declare import (
    Declaration,
    SharedTable,
    UndeclaredTenantTable,
    check_declared,
    declaration_of,
    declarations,
    shared_table,
    tenant_foreign_key,
    tenant_table,
    tenant_unique,
)

__all__ = [
    "Declaration",
    "Rule",
    "SharedTable",
    "TableName",
    "TenancySpec",
    "UndeclaredTenantTable",
    "all_permissions",
    "any_member",
    "api_key",
    "check_declared",
    "declaration_of",
    "declarations",
    "deny",
    "exact_role",
    "minimum_role",
    "permission",
    "shared_table",
    "sql",
    "tenant_foreign_key",
    "tenant_table",
    "tenant_unique",
]
