"""Tenant-table declarations as data, and the SQL that enforces them.

A `TenancySpec` says which column names the org and who may run each command
(a `Rule`). From it this module generates, for plain PostgreSQL or Citus:

- ENABLE + FORCE ROW LEVEL SECURITY (FORCE: the owner is subject too);
- one RESTRICTIVE policy FOR ALL with `org_id = (SELECT m.org_id FROM
  tenantkit.current_membership AS m)` (Citus: `tenantkit.current_org_id()`)
  in USING and WITH CHECK, so no permissive policy can widen it and no write
  can move a row to another org;
- one PERMISSIVE policy per allowed command carrying its rule;
- grants for the app role (never TRUNCATE, TRIGGER or REFERENCES: TRUNCATE
  and REFERENCES ignore RLS, TRIGGER lets the role run code as the table);
- the tenant column defaulting to the bound org, and a trigger refusing changes to it.

Plain flavour wraps every function call in `(SELECT ...)`, so it runs once per
statement as an InitPlan. The Citus flavour generates only what Citus 14 accepts
on a distributed table (each form checked on a real cluster, tests/citus/): the
STABLE functions called directly (no subqueries), `IS DISTINCT FROM NULL` for
`IS NOT NULL` (which crashes Citus's planner), and no refuse-change trigger
(Citus takes none on a distributed table and refuses distribution-column
changes itself). Its tenant default must be set before the table is distributed
(`tenantkit.tables.distribute` does it in that order).

This module is pure: no database, no SQLAlchemy ORM, no Alembic. The Alembic
ops, `tenantkit policies` and `tenantkit doctor` all build their SQL here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

if TYPE_CHECKING:
    from sqlalchemy.sql.compiler import IdentifierPreparer

__all__ = [
    "BOUND_ORG",
    "COMMANDS",
    "ISOLATION_POLICY",
    "POLICY_PREFIX",
    "TENANT_DEFAULT",
    "TRIGGER_NAME",
    "Command",
    "Flavour",
    "Policy",
    "PolicyCommand",
    "Rule",
    "TableName",
    "TenancySpec",
    "all_permissions",
    "any_member",
    "api_key",
    "citus_org_predicate",
    "deny",
    "exact_role",
    "minimum_role",
    "permission",
    "quote_ident",
    "quote_literal",
    "sort_privileges",
    "sql",
]

Command = Literal["SELECT", "INSERT", "UPDATE", "DELETE"]
PolicyCommand = Literal["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]
Flavour = Literal["postgres", "citus"]

COMMANDS: Final[tuple[Command, ...]] = get_args(Command)
#: Every object tenantkit manages on a tenant table carries this prefix; other
#: policies on the table are the application's own and are left alone.
POLICY_PREFIX: Final = "tenantkit_"
ISOLATION_POLICY: Final = "tenantkit_isolation"
TRIGGER_NAME: Final = "tenantkit_refuse_tenant_change"
TENANT_DEFAULT: Final = "tenantkit.current_org_id()"
#: The bound org as the plain flavour's policies read it: a scalar subquery over
#: the live-membership view (sql/0005_policy_cost.sql), run once per statement as
#: an InitPlan of two primary-key probes. Citus rejects subqueries in policies on
#: distributed tables, so its flavour calls current_org_id() instead.
BOUND_ORG: Final = "(SELECT m.org_id FROM tenantkit.current_membership AS m)"


# --- quoting -------------------------------------------------------------------------


@cache
def _preparer() -> IdentifierPreparer:
    # SQLAlchemy's PostgreSQL preparer knows the reserved words, so names are
    # quoted only when they must be and generated SQL stays readable.
    from sqlalchemy.dialects.postgresql.base import PGDialect

    return PGDialect().identifier_preparer  # type: ignore[no-untyped-call]


def quote_ident(name: str) -> str:
    """`name` as a PostgreSQL identifier, quoted only when needed."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return _preparer().quote(name)


def quote_literal(value: str) -> str:
    """`value` as a standard-conforming string literal.

    Backslashes are refused rather than escaped: their meaning depends on
    `standard_conforming_strings`, and no role or permission name needs one.
    """
    if "\x00" in value or "\\" in value:
        raise ValueError(f"{value!r}: NUL and backslash are not allowed here")
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableName:
    """A table, optionally schema-qualified (None: found through search_path)."""

    name: str
    schema: str | None = None

    @property
    def sql(self) -> str:
        if self.schema is None:
            return quote_ident(self.name)
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


# --- rules ---------------------------------------------------------------------------

RuleKind = Literal[
    "any_member",
    "api_key",
    "minimum_role",
    "exact_role",
    "permission",
    "all_permissions",
    "sql",
    "deny",
    "any_of",
    "all_of",
]


@dataclass(frozen=True)
class Rule:
    """Who, within the bound org, may run one command. Build with the functions below.

    Rules combine with `|` (either) and `&` (both). The org itself is enforced
    by the restrictive policy whatever the rule says.
    """

    kind: RuleKind
    values: tuple[str, ...] = ()
    parts: tuple[Rule, ...] = field(default=())

    def __or__(self, other: Rule) -> Rule:
        return _combine("any_of", self, other)

    def __and__(self, other: Rule) -> Rule:
        return _combine("all_of", self, other)

    @property
    def denies(self) -> bool:
        """True for `deny()`: no policy and no privilege for the command."""
        return self.kind == "deny"

    def using(self, flavour: Flavour = "postgres") -> str:
        """The boolean SQL for rows read, updated or deleted."""
        return self._render(flavour, check=False)

    def check(self, flavour: Flavour = "postgres") -> str:
        """The boolean SQL for rows written (WITH CHECK)."""
        return self._render(flavour, check=True)

    def _render(self, flavour: Flavour, *, check: bool) -> str:
        kind, values = self.kind, self.values
        if kind == "deny":
            raise ValueError("deny() has no SQL: the command gets no policy and no grant")
        if kind == "any_member":
            # Membership is already demanded by the restrictive isolation policy
            # (org_id = the verified current_org_id()), which every command passes
            # too; calling current_org_id() again here would double the per-statement
            # cost of the policy (measured +17.6 us vs +8.3 us per statement). Not a
            # bare `true` either: that is what doctor flags, and this states intent.
            # bound_user_id(): the stamp-checked, unverified user id, inlined (no
            # call): the restrictive policy has verified the binding (and its
            # signature) already, once per statement; verifying again here would
            # double that cost.
            return _not_null(_call("tenantkit.bound_user_id()", flavour), flavour)
        if kind == "api_key":
            # The key's twin of any_member(): bound_api_key_id() is stamp-checked,
            # unverified and inlined; the restrictive policy has verified the
            # binding (a member, or a live key of this org) once per statement,
            # and the function is NULL whenever a user is bound.
            return _not_null(_call("tenantkit.bound_api_key_id()", flavour), flavour)
        if kind == "minimum_role":
            return _call(f"tenantkit.has_min_role({quote_literal(values[0])})", flavour)
        if kind == "exact_role":
            return _call(f"tenantkit.has_role({quote_literal(values[0])})", flavour)
        if kind == "permission":
            return _call(f"tenantkit.has_permission({quote_literal(values[0])})", flavour)
        if kind == "all_permissions":
            array = ", ".join(quote_literal(v) for v in values)
            return _call(f"tenantkit.has_all_permissions(ARRAY[{array}])", flavour)
        if kind == "sql":
            return values[1] if check and len(values) > 1 else values[0]
        joiner = " OR " if kind == "any_of" else " AND "
        return "(" + joiner.join(p._render(flavour, check=check) for p in self.parts) + ")"


def _call(expression: str, flavour: Flavour) -> str:
    return expression if flavour == "citus" else f"(SELECT {expression})"


def _not_null(expression: str, flavour: Flavour) -> str:
    # Citus 14's CREATE POLICY on a distributed table fails on `f() IS NOT NULL`
    # ("unrecognized node type: 15"; measured on the test cluster) but accepts
    # `IS DISTINCT FROM NULL`, which PostgreSQL parses into the very same NullTest
    # (the catalog deparses it as IS NOT NULL again, so autogenerate compares equal).
    test = "IS DISTINCT FROM NULL" if flavour == "citus" else "IS NOT NULL"
    return f"{expression} {test}"


def _combine(kind: Literal["any_of", "all_of"], left: Rule, right: Rule) -> Rule:
    if not isinstance(right, Rule):
        raise TypeError(f"rules combine only with rules, not {right!r}")
    if left.denies or right.denies:
        raise ValueError("deny() cannot be combined; leave the command's rule as deny()")
    parts = (*_flatten(kind, left), *_flatten(kind, right))
    return Rule(kind, parts=parts)


def _flatten(kind: str, rule: Rule) -> tuple[Rule, ...]:
    return rule.parts if rule.kind == kind else (rule,)


def _name(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    quote_literal(value)  # refuses NUL and backslash now, not at migration time
    return value


def any_member() -> Rule:
    """Any active member of the bound org: a user. An org API key is no member
    (fail closed); open a command to keys with `api_key()` or `permission(...)`."""
    return Rule("any_member")


def api_key() -> Rule:
    """Any live org API key of the bound org (a key principal), whatever its permissions.

    `any_member() | api_key()` admits both; `permission(...)` admits a member
    whose role grants it and a key that carries it.
    """
    return Rule("api_key")


def minimum_role(role: str) -> Rule:
    """The bound member's role ranks at or above `role` (PropelAuth's minimum role).

    A user's rule: an org API key has no role, so no role rule admits one.
    """
    return Rule("minimum_role", (_name("role", role),))


def exact_role(role: str) -> Rule:
    """The bound member has exactly `role` (or it as an additional role, multi-role)."""
    return Rule("exact_role", (_name("role", role),))


def permission(name: str) -> Rule:
    """The bound member's role grants `name`, or the bound org API key carries it."""
    return Rule("permission", (_name("permission", name),))


def all_permissions(names: Iterable[str]) -> Rule:
    """The bound member's role (or the bound org API key) grants every one of `names`."""
    if isinstance(names, str):
        raise TypeError("all_permissions() takes a list of permission names, not one string")
    values = tuple(_name("permission", n) for n in names)
    if not values:
        raise ValueError("all_permissions() needs at least one permission")
    return Rule("all_permissions", values)


def sql(using: str, check: str | None = None) -> Rule:
    """A custom boolean SQL expression over the row's columns.

    `check` (for WITH CHECK) defaults to `using`. Wrap function calls in
    `(SELECT ...)` so they run once per statement, and use only leakproof
    operators on indexed columns. The org is still enforced separately.
    On Citus (flavour "citus") write no subquery and no `f() IS [NOT] NULL`
    (use `f() IS DISTINCT FROM NULL`): Citus refuses both on distributed tables.
    """
    values: tuple[str, ...] = (_expression("using", using),)
    if check is not None:
        values += (_expression("check", check),)
    return Rule("sql", values)


def _expression(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"sql() {what} must be a str, not {type(value).__name__}")
    if not value.strip() or "\x00" in value:
        raise ValueError(f"sql() {what} must be a non-empty SQL expression")
    return value.strip()


def deny() -> Rule:
    """Nobody: the command gets no policy and the app role no privilege for it."""
    return Rule("deny")


# --- policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One policy as it will be created (names and SQL, roles added at creation)."""

    name: str
    command: PolicyCommand
    restrictive: bool
    using: str | None
    with_check: str | None


def isolation_policy(tenant_column: str, flavour: Flavour = "postgres") -> Policy:
    """The RESTRICTIVE FOR ALL policy binding every row to the bound org."""
    bound = BOUND_ORG if flavour == "postgres" else TENANT_DEFAULT
    predicate = f"{quote_ident(tenant_column)} = {bound}"
    return Policy(ISOLATION_POLICY, "ALL", True, predicate, predicate)


def legacy_isolation_policy(tenant_column: str) -> Policy:
    """The plain flavour's isolation policy before 0005 (`(SELECT current_org_id())`):
    as safe, about 60 us slower per statement; regenerate it to get the view."""
    predicate = f"{quote_ident(tenant_column)} = {_call(TENANT_DEFAULT, 'postgres')}"
    return Policy(ISOLATION_POLICY, "ALL", True, predicate, predicate)


def citus_org_predicate(tenant_column: str) -> str:
    """The org check every Citus-flavour policy starts with (its first conjunct)."""
    return f"{quote_ident(tenant_column)} = {TENANT_DEFAULT}"


def command_policy(
    command: Command, rule: Rule, flavour: Flavour = "postgres", tenant_column: str = "org_id"
) -> Policy | None:
    """The PERMISSIVE policy for `command`, or None when the rule denies it.

    Citus flavour: the org check is folded into the policy itself, `(org_id =
    tenantkit.current_org_id()) AND (<rule>)`, because Citus 14 creates a
    RESTRICTIVE policy on the shards as PERMISSIVE (measured: the shards'
    pg_policy has polpermissive = true), where a separate isolation policy would
    be ORed with the rules and let any bound user read every org's rows.
    """
    if rule.denies:
        return None
    using = rule.using(flavour) if command != "INSERT" else None
    with_check = rule.check(flavour) if command in ("INSERT", "UPDATE") else None
    if flavour == "citus":
        org = citus_org_predicate(tenant_column)
        using = None if using is None else f"({org}) AND ({using})"
        with_check = None if with_check is None else f"({org}) AND ({with_check})"
    return Policy(POLICY_PREFIX + command.lower(), command, False, using, with_check)


@dataclass(frozen=True)
class TenancySpec:
    """Everything tenantkit enforces on one tenant table."""

    tenant_column: str = "org_id"
    read: Rule = field(default_factory=any_member)
    insert: Rule = field(default_factory=any_member)
    update: Rule = field(default_factory=any_member)
    delete: Rule = field(default_factory=any_member)
    default_to_bound_org: bool = True
    refuse_tenant_change: bool = True
    flavour: Flavour = "postgres"

    def __post_init__(self) -> None:
        quote_ident(self.tenant_column)
        for command, rule in self.rules():
            if not isinstance(rule, Rule):
                raise TypeError(
                    f"the {command} rule must be a tenantkit Rule (any_member(), "
                    f"minimum_role(...), ...), not {rule!r}"
                )
        if self.flavour not in get_args(Flavour):
            raise ValueError(f"flavour must be 'postgres' or 'citus', not {self.flavour!r}")

    def rules(self) -> tuple[tuple[Command, Rule], ...]:
        return (
            ("SELECT", self.read),
            ("INSERT", self.insert),
            ("UPDATE", self.update),
            ("DELETE", self.delete),
        )

    @property
    def privileges(self) -> tuple[Command, ...]:
        """The table privileges the app role gets: one per command not denied."""
        return tuple(command for command, rule in self.rules() if not rule.denies)

    def policies(self) -> tuple[Policy, ...]:
        """The isolation policy, then one permissive policy per allowed command.

        Citus: no isolation policy (Citus makes it permissive on the shards);
        each command policy carries the org check itself."""
        if self.flavour == "citus":
            return self.command_policies()
        return (isolation_policy(self.tenant_column, self.flavour), *self.command_policies())

    def command_policies(self) -> tuple[Policy, ...]:
        """The permissive policy of each allowed command (deny() has none)."""
        found = (
            command_policy(command, rule, self.flavour, self.tenant_column)
            for command, rule in self.rules()
        )
        return tuple(policy for policy in found if policy is not None)

    @property
    def wants_trigger(self) -> bool:
        """Whether tenantkit's refuse-change trigger belongs on the table.

        Never for Citus: a distributed table takes no trigger (and one on the
        table makes `create_distributed_table` refuse it), and Citus itself
        refuses every UPDATE that changes the distribution column ("modifying
        the partition value of rows is not allowed"), so the promise holds.
        """
        return self.refuse_tenant_change and self.flavour != "citus"

    def table_settings(self) -> dict[str, Any]:
        """The table-level settings `enable_statements` and `enable_tenancy` take."""
        return {
            "tenant_column": self.tenant_column,
            "privileges": self.privileges,
            "default_to_bound_org": self.default_to_bound_org,
            "refuse_tenant_change": self.wants_trigger,
            "flavour": self.flavour,
        }


# --- statements ----------------------------------------------------------------------


def _roles_sql(roles: Sequence[str]) -> str:
    if not roles:
        raise ValueError("a tenant policy needs at least one role")
    return ", ".join("PUBLIC" if r.lower() == "public" else quote_ident(r) for r in roles)


def create_policy(table: TableName, policy: Policy, roles: Sequence[str]) -> str:
    """CREATE POLICY for `policy` on `table`, applying to `roles`."""
    kind = "RESTRICTIVE" if policy.restrictive else "PERMISSIVE"
    lines = [
        f"CREATE POLICY {quote_ident(policy.name)} ON {table.sql} "
        f"AS {kind} FOR {policy.command} TO {_roles_sql(roles)}"
    ]
    if policy.using is not None:
        lines.append(f"    USING ({policy.using})")
    if policy.with_check is not None:
        lines.append(f"    WITH CHECK ({policy.with_check})")
    return "\n".join(lines)


def alter_policy(
    table: TableName,
    name: str,
    roles: Sequence[str],
    using: str | None,
    with_check: str | None,
) -> str:
    """ALTER POLICY setting roles and both expressions (a missing one stays as it is)."""
    statement = f"ALTER POLICY {quote_ident(name)} ON {table.sql} TO {_roles_sql(roles)}"
    if using is not None:
        statement += f"\n    USING ({using})"
    if with_check is not None:
        statement += f"\n    WITH CHECK ({with_check})"
    return statement


def drop_policy(table: TableName, name: str) -> str:
    return f"DROP POLICY {quote_ident(name)} ON {table.sql}"


def set_row_security(table: TableName, enabled: bool) -> str:
    return f"ALTER TABLE {table.sql} {'ENABLE' if enabled else 'DISABLE'} ROW LEVEL SECURITY"


def set_force(table: TableName, forced: bool) -> str:
    return f"ALTER TABLE {table.sql} {'' if forced else 'NO '}FORCE ROW LEVEL SECURITY"


_PRIVILEGE_ORDER: Final = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
)


def sort_privileges(privileges: Iterable[str]) -> tuple[str, ...]:
    """Table privileges, upper-cased, deduplicated, in GRANT's usual order."""
    found = {p.upper() for p in privileges}
    unknown = found - set(_PRIVILEGE_ORDER)
    if unknown:
        raise ValueError(f"unknown table privileges: {sorted(unknown)}")
    return tuple(p for p in _PRIVILEGE_ORDER if p in found)


def _privileges_sql(privileges: Iterable[str]) -> str:
    ordered = sort_privileges(privileges)
    if not ordered:
        raise ValueError("no privileges to grant or revoke")
    return ", ".join(ordered)


def grant(table: TableName, privileges: Iterable[str], role: str) -> str:
    return f"GRANT {_privileges_sql(privileges)} ON {table.sql} TO {quote_ident(role)}"


def revoke(table: TableName, privileges: Iterable[str], role: str) -> str:
    return f"REVOKE {_privileges_sql(privileges)} ON {table.sql} FROM {quote_ident(role)}"


def set_tenant_default(table: TableName, tenant_column: str) -> str:
    return (
        f"ALTER TABLE {table.sql} ALTER COLUMN {quote_ident(tenant_column)} "
        f"SET DEFAULT {TENANT_DEFAULT}"
    )


def drop_tenant_default(table: TableName, tenant_column: str) -> str:
    return f"ALTER TABLE {table.sql} ALTER COLUMN {quote_ident(tenant_column)} DROP DEFAULT"


def create_trigger(table: TableName, tenant_column: str) -> str:
    # BEFORE UPDATE of any column, not UPDATE OF org_id: another BEFORE trigger
    # could change the column without naming it in SET.
    return (
        f"CREATE TRIGGER {TRIGGER_NAME} BEFORE UPDATE ON {table.sql}\n"
        f"    FOR EACH ROW EXECUTE FUNCTION tenantkit.refuse_tenant_change("
        f"{quote_literal(tenant_column)})"
    )


def drop_trigger(table: TableName) -> str:
    return f"DROP TRIGGER {TRIGGER_NAME} ON {table.sql}"


def enable_statements(
    table: TableName,
    *,
    role: str,
    tenant_column: str = "org_id",
    privileges: Iterable[str] = COMMANDS,
    default_to_bound_org: bool = True,
    refuse_tenant_change: bool = True,
    flavour: Flavour = "postgres",
) -> list[str]:
    """Turn `table` into a tenant table: RLS, isolation policy, grants, default, trigger.

    The permissive per-command policies are separate (`create_policy`).
    Privileges are reset first, so an earlier `GRANT ALL` (or default
    privileges) cannot leave TRUNCATE, TRIGGER or REFERENCES behind.
    """
    statements = [
        set_row_security(table, True),
        set_force(table, True),
        f"REVOKE ALL ON {table.sql} FROM {quote_ident(role)}",
    ]
    if flavour != "citus":
        # Citus: none (the shards would get it as PERMISSIVE); see command_policy.
        statements.insert(2, create_policy(table, isolation_policy(tenant_column, flavour), [role]))
    privileges = list(privileges)
    if privileges:
        statements.append(grant(table, privileges, role))
    if default_to_bound_org:
        statements.append(set_tenant_default(table, tenant_column))
    if refuse_tenant_change and flavour != "citus":
        # Citus: no trigger on a distributed table; Citus refuses the change itself.
        statements.append(create_trigger(table, tenant_column))
    return statements


def disable_statements(
    table: TableName,
    *,
    role: str,
    tenant_column: str = "org_id",
    privileges: Iterable[str] = COMMANDS,
    default_to_bound_org: bool = True,
    refuse_tenant_change: bool = True,
    flavour: Flavour = "postgres",
) -> list[str]:
    """Undo `enable_statements` (the per-command policies must be dropped first)."""
    statements = []
    if refuse_tenant_change and flavour != "citus":
        statements.append(drop_trigger(table))
    if default_to_bound_org:
        statements.append(drop_tenant_default(table, tenant_column))
    privileges = list(privileges)
    if privileges:
        statements.append(revoke(table, privileges, role))
    if flavour != "citus":
        statements.append(drop_policy(table, ISOLATION_POLICY))
    statements += [
        set_force(table, False),
        set_row_security(table, False),
    ]
    return statements


def tenancy_statements(table: TableName, spec: TenancySpec, *, role: str) -> list[str]:
    """Every statement making `table` a tenant table as `spec` declares."""
    statements = enable_statements(table, role=role, **spec.table_settings())
    statements += (create_policy(table, policy, [role]) for policy in spec.command_policies())
    return statements


def tenancy_script(table: TableName, spec: TenancySpec, *, role: str) -> str:
    """`tenancy_statements` as one SQL script, statements ending in `;`."""
    return "".join(s + ";\n" for s in tenancy_statements(table, spec, role=role))
