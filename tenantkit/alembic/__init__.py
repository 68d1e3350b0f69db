"""Alembic support for tenant tables: operations, autogenerate and env.py options.

Two lines in the application's env.py:

    import tenantkit.alembic
    ...
    context.configure(connection=connection, target_metadata=target_metadata,
                      **tenantkit.alembic.options())

Importing registers the operations (`op.enable_tenancy`, ...), their
renderers and the autogenerate comparator. `options()` names the app role the
policies apply to and keeps tenantkit's own schema (migrated separately by
`tenantkit migrate`) out of the application's autogenerate.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

# Imported for their registrations with Alembic (comparator, renderers).
from tenantkit.alembic import _compare, _render  # noqa: F401
from tenantkit.alembic._distribute import DistributeTablesOp, UndistributeTablesOp
from tenantkit.alembic._ops import (
    AlterTenancyOp,
    AlterTenantPolicyOp,
    CreateTenantPolicyOp,
    DisableTenancyOp,
    DropTenantPolicyOp,
    EnableTenancyOp,
)
from tenantkit.migrate import SCHEMA
from tenantkit.sqlfiles import DatabaseRoles

__all__ = [
    "AlterTenancyOp",
    "AlterTenantPolicyOp",
    "CreateTenantPolicyOp",
    "DisableTenancyOp",
    "DistributeTablesOp",
    "DropTenantPolicyOp",
    "EnableTenancyOp",
    "UndistributeTablesOp",
    "include_name",
    "include_object",
    "options",
]

NameFilter = Callable[[str | None, str, dict[str, Any]], bool]
ObjectFilter = Callable[[Any, str | None, str, bool, Any], bool]


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic `include_name`: skip tenantkit's schema when include_schemas=True."""
    if type_ == "schema":
        return name != SCHEMA
    return parent_names.get("schema_name") != SCHEMA


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic `include_object`: skip tenantkit's tables placed in the app's metadata."""
    return not (type_ == "table" and getattr(obj, "schema", None) == SCHEMA)


# options() takes parameters of the same names; these keep tenantkit's own reachable.
_include_name = include_name
_include_object = include_object


def _app_roles() -> DatabaseRoles:
    from alembic import context

    configured = context.config.attributes.get("tenantkit_roles")
    if isinstance(configured, DatabaseRoles):
        return configured
    x_args = context.get_x_argument(as_dictionary=True)
    defaults = DatabaseRoles()
    return DatabaseRoles(
        app=x_args.get("app_role") or os.environ.get("TENANTKIT_APP_ROLE") or defaults.app,
        service=x_args.get("service_role")
        or os.environ.get("TENANTKIT_SERVICE_ROLE")
        or defaults.service,
    )


def options(
    *,
    roles: DatabaseRoles | None = None,
    include_name: NameFilter | None = None,
    include_object: ObjectFilter | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `context.configure()` in the application's env.py.

    roles: the app role policies apply to. Default, first found:
    `config.attributes["tenantkit_roles"]`, `-x app_role=...`,
    $TENANTKIT_APP_ROLE, then "tenantkit_app".
    include_name / include_object: your own filters, combined with tenantkit's.
    """
    own_name, own_object = include_name, include_object

    def name_filter(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        keep = _include_name(name, type_, parent_names)
        return keep and (own_name is None or own_name(name, type_, parent_names))

    def object_filter(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        keep = _include_object(obj, name, type_, reflected, compare_to)
        return keep and (own_object is None or own_object(obj, name, type_, reflected, compare_to))

    return {
        "tenantkit_roles": roles or _app_roles(),
        "include_name": name_filter,
        "include_object": object_filter,
    }
