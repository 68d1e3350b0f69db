"""How autogenerate writes tenancy operations into a migration file.

Only arguments that differ from the operation's defaults are written, and a
generated file imports `tenantkit.alembic` itself, so it runs even from an
environment that never imported it.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext

from tenantkit.alembic._distribute import DistributeTablesOp, UndistributeTablesOp
from tenantkit.alembic._ops import (
    AlterTenancyOp,
    AlterTenantPolicyOp,
    CreateTenantPolicyOp,
    DisableTenancyOp,
    DropTenantPolicyOp,
    EnableTenancyOp,
)
from tenantkit.rls import COMMANDS

__all__: list[str] = []

_IMPORT = "import tenantkit.alembic  # noqa: F401  (registers op.enable_tenancy & co.)"


def _call(context: AutogenContext, name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    context.imports.add(_IMPORT)
    rendered = [repr(a) for a in args]
    rendered += [f"{k}={_value(v)}" for k, v in kwargs.items()]
    return f"op.{name}({', '.join(rendered)})"


def _value(value: Any) -> str:
    # Lists read better than tuples in a migration file.
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _tenancy(op: EnableTenancyOp | DisableTenancyOp) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if op.schema is not None:
        kwargs["schema"] = op.schema
    if op.tenant_column != "org_id":
        kwargs["tenant_column"] = op.tenant_column
    if op.privileges != COMMANDS:
        kwargs["privileges"] = op.privileges
    if not op.default_to_bound_org:
        kwargs["default_to_bound_org"] = False
    if not op.refuse_tenant_change:
        kwargs["refuse_tenant_change"] = False
    if op.flavour != "postgres":
        kwargs["flavour"] = op.flavour
    return kwargs


@renderers.dispatch_for(EnableTenancyOp)
def _render_enable(context: AutogenContext, op: EnableTenancyOp) -> str:
    return _call(context, "enable_tenancy", [op.table_name], _tenancy(op))


@renderers.dispatch_for(DisableTenancyOp)
def _render_disable(context: AutogenContext, op: DisableTenancyOp) -> str:
    return _call(context, "disable_tenancy", [op.table_name], _tenancy(op))


@renderers.dispatch_for(AlterTenancyOp)
def _render_alter_tenancy(context: AutogenContext, op: AlterTenancyOp) -> str:
    kwargs: dict[str, Any] = {}
    if op.schema is not None:
        kwargs["schema"] = op.schema
    if op.tenant_column != "org_id":
        kwargs["tenant_column"] = op.tenant_column
    for setting in (
        "row_security",
        "force",
        "privileges",
        "default_to_bound_org",
        "refuse_tenant_change",
    ):
        value = getattr(op, setting)
        if value is not None:
            kwargs[setting] = value
            kwargs["existing_" + setting] = getattr(op, "existing_" + setting)
    return _call(context, "alter_tenancy", [op.table_name], kwargs)


@renderers.dispatch_for(CreateTenantPolicyOp)
def _render_create_policy(context: AutogenContext, op: CreateTenantPolicyOp) -> str:
    kwargs: dict[str, Any] = {"command": op.command}
    if op.restrictive:
        kwargs["restrictive"] = True
    if op.using is not None:
        kwargs["using"] = op.using
    if op.with_check is not None:
        kwargs["with_check"] = op.with_check
    if op.roles is not None:
        kwargs["roles"] = op.roles
    if op.schema is not None:
        kwargs["schema"] = op.schema
    return _call(context, "create_tenant_policy", [op.table_name, op.policy_name], kwargs)


@renderers.dispatch_for(DropTenantPolicyOp)
def _render_drop_policy(context: AutogenContext, op: DropTenantPolicyOp) -> str:
    kwargs: dict[str, Any] = {}
    if op.schema is not None:
        kwargs["schema"] = op.schema
    return _call(context, "drop_tenant_policy", [op.table_name, op.policy_name], kwargs)


@renderers.dispatch_for(AlterTenantPolicyOp)
def _render_alter_policy(context: AutogenContext, op: AlterTenantPolicyOp) -> str:
    kwargs: dict[str, Any] = {}
    for name in ("using", "with_check", "roles"):
        if getattr(op, name) is not None:
            kwargs[name] = getattr(op, name)
    for name in ("existing_using", "existing_with_check", "existing_roles"):
        if getattr(op, name) is not None:
            kwargs[name] = getattr(op, name)
    if op.schema is not None:
        kwargs["schema"] = op.schema
    return _call(context, "alter_tenant_policy", [op.table_name, op.policy_name], kwargs)



def _placement(op: DistributeTablesOp | UndistributeTablesOp) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = [list(op.tables)] if op.tables else []
    kwargs: dict[str, Any] = {}
    if op.reference:
        kwargs["reference"] = op.reference
    if op.schema is not None:
        kwargs["schema"] = op.schema
    if op.tenant_column != "org_id":
        kwargs["tenant_column"] = op.tenant_column
    if op.colocate_with is not None:
        kwargs["colocate_with"] = op.colocate_with
    if not op.default_to_bound_org:
        kwargs["default_to_bound_org"] = False
    return args, kwargs


@renderers.dispatch_for(DistributeTablesOp)
def _render_distribute(context: AutogenContext, op: DistributeTablesOp) -> str:
    return _call(context, "distribute_tables", *_placement(op))


@renderers.dispatch_for(UndistributeTablesOp)
def _render_undistribute(context: AutogenContext, op: UndistributeTablesOp) -> str:
    return _call(context, "undistribute_tables", *_placement(op))
