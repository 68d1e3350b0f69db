"""Alembic operations for tenant tables, each reversible.

    op.enable_tenancy("documents")
    op.create_tenant_policy("documents", "tenantkit_delete", command="DELETE",
                            using="(SELECT tenantkit.has_min_role('Admin'))")

Policies apply to the app role configured for the migration
(`context.configure(..., **tenantkit.alembic.options())`), never to a name
written into the migration file, so one migration serves every deployment.
The SQL comes from `tenantkit.rls`, the same generator `tenantkit policies` prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from alembic.operations import MigrateOperation, Operations

from tenantkit import rls
from tenantkit.alembic._preflight import check_environment, check_rule_names
from tenantkit.rls import COMMANDS, Flavour, Policy, PolicyCommand, TableName
from tenantkit.sqlfiles import DatabaseRoles

__all__ = [
    "AlterTenancyOp",
    "AlterTenantPolicyOp",
    "CreateTenantPolicyOp",
    "DisableTenancyOp",
    "DropTenantPolicyOp",
    "EnableTenancyOp",
]


def app_role(operations: Operations) -> str:
    """The app role of this migration run (`tenantkit_roles` in the context options)."""
    roles = operations.get_context().opts.get("tenantkit_roles")
    return roles.app if isinstance(roles, DatabaseRoles) else DatabaseRoles().app


def _preflight(operations: Operations, *policy_sql: str | None, where: str = "") -> None:
    """Online runs only: the schema, the app role, and the names a policy uses."""
    if operations.get_context().as_sql:
        return
    bind = operations.get_bind()
    check_environment(bind, app_role(operations))
    if policy_sql:
        check_rule_names(bind, where, policy_sql)


def _run(operations: Operations, statements: Iterable[str]) -> None:
    context = operations.get_context()
    for statement in statements:
        if context.as_sql:
            context.impl.static_output(statement + context.impl.command_terminator)
        else:
            # Verbatim: op.execute() would parse `:name` in a policy as a bind parameter.
            operations.get_bind().exec_driver_sql(
                statement, execution_options={"no_parameters": True}
            )


def _privileges(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError("privileges is a list such as ['SELECT', 'INSERT']")
    return rls.sort_privileges(values)


class _TableOp(MigrateOperation):
    def __init__(self, table_name: str, schema: str | None) -> None:
        self.table_name = table_name
        self.schema = schema

    @property
    def table(self) -> TableName:
        return TableName(self.table_name, self.schema)


class _TenancyOp(_TableOp):
    def __init__(
        self,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        privileges: Iterable[str] = COMMANDS,
        default_to_bound_org: bool = True,
        refuse_tenant_change: bool = True,
        flavour: Flavour = "postgres",
    ) -> None:
        super().__init__(table_name, schema)
        self.tenant_column = tenant_column
        self.privileges = _privileges(privileges)
        self.default_to_bound_org = default_to_bound_org
        self.refuse_tenant_change = refuse_tenant_change
        self.flavour: Flavour = flavour

    def _settings(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "tenant_column": self.tenant_column,
            "privileges": self.privileges,
            "default_to_bound_org": self.default_to_bound_org,
            "refuse_tenant_change": self.refuse_tenant_change,
            "flavour": self.flavour,
        }


@Operations.register_operation("enable_tenancy")
class EnableTenancyOp(_TenancyOp):
    """ENABLE + FORCE RLS, the restrictive isolation policy, grants, default, trigger."""

    @classmethod
    def enable_tenancy(
        cls,
        operations: Operations,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        privileges: Sequence[str] = COMMANDS,
        default_to_bound_org: bool = True,
        refuse_tenant_change: bool = True,
        flavour: Flavour = "postgres",
    ) -> None:
        """Make a table a tenant table (add per-command policies with create_tenant_policy)."""
        operations.invoke(
            cls(
                table_name,
                schema=schema,
                tenant_column=tenant_column,
                privileges=privileges,
                default_to_bound_org=default_to_bound_org,
                refuse_tenant_change=refuse_tenant_change,
                flavour=flavour,
            )
        )

    def reverse(self) -> DisableTenancyOp:
        return DisableTenancyOp(self.table_name, **self._settings())

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("enable_tenancy", self.schema, self.table_name)


@Operations.register_operation("disable_tenancy")
class DisableTenancyOp(_TenancyOp):
    """Undo enable_tenancy (drop the per-command policies first)."""

    @classmethod
    def disable_tenancy(
        cls,
        operations: Operations,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        privileges: Sequence[str] = COMMANDS,
        default_to_bound_org: bool = True,
        refuse_tenant_change: bool = True,
        flavour: Flavour = "postgres",
    ) -> None:
        """Stop treating a table as a tenant table: the reverse of enable_tenancy."""
        operations.invoke(
            cls(
                table_name,
                schema=schema,
                tenant_column=tenant_column,
                privileges=privileges,
                default_to_bound_org=default_to_bound_org,
                refuse_tenant_change=refuse_tenant_change,
                flavour=flavour,
            )
        )

    def reverse(self) -> EnableTenancyOp:
        return EnableTenancyOp(self.table_name, **self._settings())

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("disable_tenancy", self.schema, self.table_name)


@Operations.register_operation("alter_tenancy")
class AlterTenancyOp(_TableOp):
    """Change table-level tenancy settings; None leaves a setting as it is.

    Each setting has an `existing_` twin recording the state before, so the
    operation reverses exactly (Alembic's alter_column convention).
    """

    def __init__(
        self,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        row_security: bool | None = None,
        force: bool | None = None,
        privileges: Iterable[str] | None = None,
        default_to_bound_org: bool | None = None,
        refuse_tenant_change: bool | None = None,
        existing_row_security: bool | None = None,
        existing_force: bool | None = None,
        existing_privileges: Iterable[str] | None = None,
        existing_default_to_bound_org: bool | None = None,
        existing_refuse_tenant_change: bool | None = None,
    ) -> None:
        super().__init__(table_name, schema)
        self.tenant_column = tenant_column
        self.row_security = row_security
        self.force = force
        self.privileges = None if privileges is None else _privileges(privileges)
        self.default_to_bound_org = default_to_bound_org
        self.refuse_tenant_change = refuse_tenant_change
        self.existing_row_security = existing_row_security
        self.existing_force = existing_force
        self.existing_privileges = (
            None if existing_privileges is None else _privileges(existing_privileges)
        )
        self.existing_default_to_bound_org = existing_default_to_bound_org
        self.existing_refuse_tenant_change = existing_refuse_tenant_change

    @classmethod
    def alter_tenancy(
        cls,
        operations: Operations,
        table_name: str,
        *,
        schema: str | None = None,
        tenant_column: str = "org_id",
        row_security: bool | None = None,
        force: bool | None = None,
        privileges: Sequence[str] | None = None,
        default_to_bound_org: bool | None = None,
        refuse_tenant_change: bool | None = None,
        existing_row_security: bool | None = None,
        existing_force: bool | None = None,
        existing_privileges: Sequence[str] | None = None,
        existing_default_to_bound_org: bool | None = None,
        existing_refuse_tenant_change: bool | None = None,
    ) -> None:
        """Change a tenant table's RLS flags, app-role grants, tenant default or trigger."""
        operations.invoke(
            cls(
                table_name,
                schema=schema,
                tenant_column=tenant_column,
                row_security=row_security,
                force=force,
                privileges=privileges,
                default_to_bound_org=default_to_bound_org,
                refuse_tenant_change=refuse_tenant_change,
                existing_row_security=existing_row_security,
                existing_force=existing_force,
                existing_privileges=existing_privileges,
                existing_default_to_bound_org=existing_default_to_bound_org,
                existing_refuse_tenant_change=existing_refuse_tenant_change,
            )
        )

    def reverse(self) -> AlterTenancyOp:
        return AlterTenancyOp(
            self.table_name,
            schema=self.schema,
            tenant_column=self.tenant_column,
            row_security=self.existing_row_security,
            force=self.existing_force,
            privileges=self.existing_privileges,
            default_to_bound_org=self.existing_default_to_bound_org,
            refuse_tenant_change=self.existing_refuse_tenant_change,
            existing_row_security=self.row_security,
            existing_force=self.force,
            existing_privileges=self.privileges,
            existing_default_to_bound_org=self.default_to_bound_org,
            existing_refuse_tenant_change=self.refuse_tenant_change,
        )

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("alter_tenancy", self.schema, self.table_name)

    def statements(self, role: str) -> list[str]:
        table, column = self.table, self.tenant_column
        statements: list[str] = []
        if self.row_security is not None:
            statements.append(rls.set_row_security(table, self.row_security))
        if self.force is not None:
            statements.append(rls.set_force(table, self.force))
        if self.privileges is not None:
            if self.existing_privileges is None:
                statements.append(f"REVOKE ALL ON {table.sql} FROM {rls.quote_ident(role)}")
                removed: set[str] = set()
            else:
                removed = set(self.existing_privileges) - set(self.privileges)
            added = set(self.privileges) - set(self.existing_privileges or ())
            if removed:
                statements.append(rls.revoke(table, removed, role))
            if added:
                statements.append(rls.grant(table, added, role))
        if self.default_to_bound_org is not None:
            statements.append(
                rls.set_tenant_default(table, column)
                if self.default_to_bound_org
                else rls.drop_tenant_default(table, column)
            )
        if self.refuse_tenant_change is not None:
            # IF EXISTS: the trigger is recreated when it exists in another shape.
            statements.append(f"DROP TRIGGER IF EXISTS {rls.TRIGGER_NAME} ON {table.sql}")
            if self.refuse_tenant_change:
                statements.append(rls.create_trigger(table, column))
        return statements


def _roles(roles: Sequence[str] | None) -> tuple[str, ...] | None:
    if roles is None:
        return None
    if isinstance(roles, str):
        raise TypeError("roles is a list of role names")
    return tuple(roles)


@Operations.register_operation("create_tenant_policy")
class CreateTenantPolicyOp(_TableOp):
    """CREATE POLICY on a tenant table, applying to the app role (or `roles`)."""

    def __init__(
        self,
        table_name: str,
        policy_name: str,
        *,
        command: PolicyCommand = "ALL",
        using: str | None = None,
        with_check: str | None = None,
        restrictive: bool = False,
        roles: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> None:
        super().__init__(table_name, schema)
        if command not in ("ALL", *COMMANDS):
            raise ValueError(f"command must be ALL, SELECT, INSERT, UPDATE or DELETE: {command!r}")
        if using is None and with_check is None:
            raise ValueError("a tenant policy needs USING, WITH CHECK or both")
        self.policy_name = policy_name
        self.command: PolicyCommand = command
        self.using = using
        self.with_check = with_check
        self.restrictive = restrictive
        self.roles = _roles(roles)

    @classmethod
    def create_tenant_policy(
        cls,
        operations: Operations,
        table_name: str,
        policy_name: str,
        *,
        command: PolicyCommand = "ALL",
        using: str | None = None,
        with_check: str | None = None,
        restrictive: bool = False,
        roles: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> None:
        """Create a policy on a tenant table (roles default to the app role)."""
        operations.invoke(
            cls(
                table_name,
                policy_name,
                command=command,
                using=using,
                with_check=with_check,
                restrictive=restrictive,
                roles=roles,
                schema=schema,
            )
        )

    @classmethod
    def from_policy(cls, table: TableName, policy: Policy) -> CreateTenantPolicyOp:
        return cls(
            table.name,
            policy.name,
            command=policy.command,
            using=policy.using,
            with_check=policy.with_check,
            restrictive=policy.restrictive,
            schema=table.schema,
        )

    @property
    def policy(self) -> Policy:
        return Policy(self.policy_name, self.command, self.restrictive, self.using, self.with_check)

    def reverse(self) -> DropTenantPolicyOp:
        return DropTenantPolicyOp(
            self.table_name,
            self.policy_name,
            command=self.command,
            using=self.using,
            with_check=self.with_check,
            restrictive=self.restrictive,
            roles=self.roles,
            schema=self.schema,
        )

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("create_tenant_policy", self.schema, self.table_name, self.policy_name)


@Operations.register_operation("drop_tenant_policy")
class DropTenantPolicyOp(_TableOp):
    """DROP POLICY; the definition is kept (optional) so the drop can be reversed."""

    def __init__(
        self,
        table_name: str,
        policy_name: str,
        *,
        command: PolicyCommand | None = None,
        using: str | None = None,
        with_check: str | None = None,
        restrictive: bool = False,
        roles: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> None:
        super().__init__(table_name, schema)
        self.policy_name = policy_name
        self.command = command
        self.using = using
        self.with_check = with_check
        self.restrictive = restrictive
        self.roles = _roles(roles)

    @classmethod
    def drop_tenant_policy(
        cls,
        operations: Operations,
        table_name: str,
        policy_name: str,
        *,
        command: PolicyCommand | None = None,
        using: str | None = None,
        with_check: str | None = None,
        restrictive: bool = False,
        roles: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> None:
        """Drop a policy from a tenant table."""
        operations.invoke(
            cls(
                table_name,
                policy_name,
                command=command,
                using=using,
                with_check=with_check,
                restrictive=restrictive,
                roles=roles,
                schema=schema,
            )
        )

    def reverse(self) -> CreateTenantPolicyOp:
        if self.command is None:
            raise ValueError(
                f"drop_tenant_policy({self.policy_name!r}) cannot be reversed without "
                "command=, using= and with_check="
            )
        return CreateTenantPolicyOp(
            self.table_name,
            self.policy_name,
            command=self.command,
            using=self.using,
            with_check=self.with_check,
            restrictive=self.restrictive,
            roles=self.roles,
            schema=self.schema,
        )

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("drop_tenant_policy", self.schema, self.table_name, self.policy_name)


@Operations.register_operation("alter_tenant_policy")
class AlterTenantPolicyOp(_TableOp):
    """ALTER POLICY: new roles and expressions, with the existing ones for reversal."""

    def __init__(
        self,
        table_name: str,
        policy_name: str,
        *,
        using: str | None = None,
        with_check: str | None = None,
        roles: Sequence[str] | None = None,
        existing_using: str | None = None,
        existing_with_check: str | None = None,
        existing_roles: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> None:
        super().__init__(table_name, schema)
        self.policy_name = policy_name
        self.using = using
        self.with_check = with_check
        self.roles = _roles(roles)
        self.existing_using = existing_using
        self.existing_with_check = existing_with_check
        self.existing_roles = _roles(existing_roles)

    @classmethod
    def alter_tenant_policy(
        cls,
        operations: Operations,
        table_name: str,
        policy_name: str,
        *,
        using: str | None = None,
        with_check: str | None = None,
        roles: Sequence[str] | None = None,
        existing_using: str | None = None,
        existing_with_check: str | None = None,
        existing_roles: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> None:
        """Change a tenant policy's expressions (and roles; default: the app role)."""
        operations.invoke(
            cls(
                table_name,
                policy_name,
                using=using,
                with_check=with_check,
                roles=roles,
                existing_using=existing_using,
                existing_with_check=existing_with_check,
                existing_roles=existing_roles,
                schema=schema,
            )
        )

    def reverse(self) -> AlterTenantPolicyOp:
        return AlterTenantPolicyOp(
            self.table_name,
            self.policy_name,
            using=self.existing_using,
            with_check=self.existing_with_check,
            roles=self.existing_roles,
            existing_using=self.using,
            existing_with_check=self.with_check,
            existing_roles=self.roles,
            schema=self.schema,
        )

    def to_diff_tuple(self) -> tuple[Any, ...]:
        return ("alter_tenant_policy", self.schema, self.table_name, self.policy_name)


@Operations.implementation_for(EnableTenancyOp)
def _enable(operations: Operations, op: EnableTenancyOp) -> None:
    _preflight(operations)
    _run(
        operations,
        rls.enable_statements(
            op.table,
            role=app_role(operations),
            tenant_column=op.tenant_column,
            privileges=op.privileges,
            default_to_bound_org=op.default_to_bound_org,
            refuse_tenant_change=op.refuse_tenant_change,
            flavour=op.flavour,
        ),
    )


@Operations.implementation_for(DisableTenancyOp)
def _disable(operations: Operations, op: DisableTenancyOp) -> None:
    _run(
        operations,
        rls.disable_statements(
            op.table,
            role=app_role(operations),
            tenant_column=op.tenant_column,
            privileges=op.privileges,
            default_to_bound_org=op.default_to_bound_org,
            refuse_tenant_change=op.refuse_tenant_change,
            flavour=op.flavour,
        ),
    )


@Operations.implementation_for(AlterTenancyOp)
def _alter_tenancy(operations: Operations, op: AlterTenancyOp) -> None:
    _preflight(operations)
    _run(operations, op.statements(app_role(operations)))


@Operations.implementation_for(CreateTenantPolicyOp)
def _create_policy(operations: Operations, op: CreateTenantPolicyOp) -> None:
    where = f"{op.table}.{op.policy.name}"
    _preflight(operations, op.policy.using, op.policy.with_check, where=where)
    roles = op.roles or (app_role(operations),)
    _run(operations, [rls.create_policy(op.table, op.policy, roles)])


@Operations.implementation_for(DropTenantPolicyOp)
def _drop_policy(operations: Operations, op: DropTenantPolicyOp) -> None:
    _run(operations, [rls.drop_policy(op.table, op.policy_name)])


@Operations.implementation_for(AlterTenantPolicyOp)
def _alter_policy(operations: Operations, op: AlterTenantPolicyOp) -> None:
    _preflight(operations, op.using, op.with_check, where=f"{op.table}.{op.policy_name}")
    roles = op.roles or (app_role(operations),)
    _run(
        operations,
        [rls.alter_policy(op.table, op.policy_name, roles, op.using, op.with_check)],
    )
