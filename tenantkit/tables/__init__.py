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
from tenantkit.tables._distribute import (
    CitusUnavailable,
    DistributionError,
    NotDeclared,
    Step,
    Target,
    WrongDistribution,
    distribute,
    plan_distribution,
    targets_of,
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
    "CitusUnavailable",
    "Declaration",
    "DistributionError",
    "NotDeclared",
    "Rule",
    "SharedTable",
    "Step",
    "TableName",
    "Target",
    "TenancySpec",
    "UndeclaredTenantTable",
    "WrongDistribution",
    "all_permissions",
    "any_member",
    "api_key",
    "check_declared",
    "declaration_of",
    "declarations",
    "deny",
    "distribute",
    "exact_role",
    "minimum_role",
    "permission",
    "plan_distribution",
    "shared_table",
    "sql",
    "targets_of",
    "tenant_foreign_key",
    "tenant_table",
    "tenant_unique",
]
