"""The Citus flavour on a real cluster: every generated rule form is accepted by Citus 14
on a distributed table, in both orders (tenancy before or after distribution).

The exposed side: what the plain flavour (or an unwrapped `IS NOT NULL`) would send
is refused by Citus, which is why the Citus flavour writes what it writes.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tenantkit.rls import (
    Rule,
    TableName,
    TenancySpec,
    all_permissions,
    any_member,
    api_key,
    exact_role,
    minimum_role,
    permission,
    sql,
    tenancy_statements,
)
from tenantkit.tables import Target, distribute
from tenantkit.testing import TestDatabase
from tenantkit.testing.citus import CitusCluster
from tests.citus.conftest import superuser_conn

RULES: dict[str, Rule] = {
    "any_member": any_member(),
    "api_key": api_key(),
    "minimum_role": minimum_role("Member"),
    "exact_role": exact_role("Owner"),
    "permission": permission("docs::write"),
    "all_permissions": all_permissions(["a", "b"]),
    "any_of": any_member() | api_key(),
    "all_of": minimum_role("Admin") & permission("docs::delete"),
    "sql": sql("title IS DISTINCT FROM NULL"),
}


@pytest.fixture
def owner(citus_owner: sa.Engine) -> Iterator[sa.Connection]:
    with citus_owner.connect() as conn:
        yield conn
        conn.rollback()


def _table(conn: sa.Connection, name: str) -> TableName:
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (org_id uuid NOT NULL, id int NOT NULL, title text, "
        "PRIMARY KEY (org_id, id))"
    )
    return TableName(name)


def _run(conn: sa.Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _spec(rule: Rule) -> TenancySpec:
    return TenancySpec(flavour="citus", read=rule, insert=rule, update=rule, delete=rule)


@pytest.mark.parametrize("form", sorted(RULES))
def test_every_rule_form_is_accepted_on_a_distributed_table(
    owner: sa.Connection, citus_db: TestDatabase, form: str
) -> None:
    table = _table(owner, f"after_{form}")
    spec = _spec(RULES[form])
    # Distribution first (the default set by distribute), then the policies: Citus
    # parses and propagates each CREATE POLICY to every shard.
    distribute(owner, [Target(table, "org_id")])
    statements = [s for s in tenancy_statements(table, spec, role=citus_db.roles.app)
                  if "SET DEFAULT" not in s]
    _run(owner, statements)
    count = owner.exec_driver_sql(
        f"SELECT count(*) FROM pg_policy WHERE polrelid = '{table.sql}'::regclass"
    ).scalar_one()
    assert count == 4  # one per command: no separate isolation policy on Citus


@pytest.mark.parametrize("form", sorted(RULES))
def test_every_rule_form_survives_distribution(
    owner: sa.Connection, citus_db: TestDatabase, form: str
) -> None:
    table = _table(owner, f"before_{form}")
    _run(owner, tenancy_statements(table, _spec(RULES[form]), role=citus_db.roles.app))
    steps = distribute(owner, [Target(table, "org_id")])
    assert [s.action for s in steps] == ["distribute by org_id"]  # default already set


def test_is_not_null_on_a_function_crashes_citus_so_the_flavour_avoids_it(
    owner: sa.Connection, citus_db: TestDatabase
) -> None:
    table = _table(owner, "crash")
    distribute(owner, [Target(table, "org_id")])
    owner.commit()
    role = citus_db.roles.app
    with pytest.raises(sa.exc.DBAPIError, match="unrecognized node type"):
        owner.exec_driver_sql(
            f"CREATE POLICY p ON crash FOR SELECT TO {role} "
            "USING (tenantkit.bound_user_id() IS NOT NULL)"
        )
    owner.rollback()
    generated = any_member().using("citus")
    assert generated == "tenantkit.bound_user_id() IS DISTINCT FROM NULL"
    owner.exec_driver_sql(f"CREATE POLICY p ON crash FOR SELECT TO {role} USING ({generated})")


def test_the_plain_flavour_is_refused_on_a_distributed_table(
    owner: sa.Connection, citus_db: TestDatabase
) -> None:
    table = _table(owner, "plain")
    distribute(owner, [Target(table, "org_id")])
    owner.commit()
    plain = TenancySpec(refuse_tenant_change=False)  # its subqueries; no trigger either way
    policies = [s for s in tenancy_statements(table, plain, role=citus_db.roles.app)
                if s.startswith("CREATE POLICY")]
    with pytest.raises(sa.exc.DBAPIError, match=r"SubLink|subquer"):
        _run(owner, policies[:1])


ORG_A = "00000000-0000-4000-8000-00000000000a"
ORG_B = "00000000-0000-4000-8000-00000000000b"
#: A stand-in for the bound org that needs nothing of tenantkit's on the workers:
#: the mechanism is Citus's, whatever the predicate calls.
STAND_IN = "current_setting('test.org', true)::uuid"


def _rows_seen_by_app(cluster: CitusCluster, db: TestDatabase, table: str, node: int) -> int:
    nodes = [cluster.coordinator, *cluster.workers]
    with psycopg.connect(nodes[node].conninfo(db.name, user=db.roles.app)) as conn:
        conn.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        conn.execute(f"SET LOCAL test.org = '{ORG_A}'")
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(str(row[0]))


def _two_org_table(owner: sa.Connection, db: TestDatabase, name: str) -> None:
    owner.exec_driver_sql(
        f"CREATE TABLE {name} (org_id uuid NOT NULL, id int, PRIMARY KEY (org_id, id))"
    )
    owner.exec_driver_sql(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    owner.exec_driver_sql(f"SELECT create_distributed_table('{name}', 'org_id')")
    owner.exec_driver_sql(f"INSERT INTO {name} VALUES ('{ORG_A}', 1), ('{ORG_B}', 2)")
    owner.exec_driver_sql(f'GRANT SELECT ON {name} TO "{db.roles.app}"')


@pytest.mark.parametrize("node", [0, 1], ids=["via-coordinator", "on-a-worker"])
def test_a_restrictive_policy_becomes_permissive_on_the_shards_so_citus_folds_it(
    owner: sa.Connection, citus_cluster: CitusCluster, citus_db: TestDatabase, node: int
) -> None:
    app = f'"{citus_db.roles.app}"'
    suffix = ("coord", "worker")[node]
    # Exposed: the plain flavour's shape, a RESTRICTIVE org policy and a permissive rule.
    exposed = f"exposed_{suffix}"
    _two_org_table(owner, citus_db, exposed)
    owner.exec_driver_sql(
        f"CREATE POLICY iso ON {exposed} AS RESTRICTIVE FOR ALL TO {app} "
        f"USING (org_id = {STAND_IN})"
    )
    owner.exec_driver_sql(f"CREATE POLICY sel ON {exposed} FOR SELECT TO {app} USING (true)")
    # Protected: the Citus flavour's shape, the org check inside the permissive policy.
    protected = f"protected_{suffix}"
    _two_org_table(owner, citus_db, protected)
    owner.exec_driver_sql(
        f"CREATE POLICY sel ON {protected} FOR SELECT TO {app} "
        f"USING ((org_id = {STAND_IN}) AND (true))"
    )
    owner.commit()
    with superuser_conn(citus_cluster, citus_db) as conn:
        on_shards = conn.execute(
            "SELECT DISTINCT result FROM run_command_on_shards(%s, $$SELECT polpermissive "
            "FROM pg_policy WHERE polname = 'iso' AND polrelid = '%%s'::regclass$$)",
            (exposed,),
        ).fetchall()
        on_coordinator = conn.execute(
            "SELECT polpermissive FROM pg_policy WHERE polname = 'iso' AND polrelid = %s::regclass",
            (exposed,),
        ).fetchone()
    assert on_coordinator == (False,), "RESTRICTIVE on the coordinator"
    assert on_shards == [("t",)], "but PERMISSIVE on every shard"
    assert _rows_seen_by_app(citus_cluster, citus_db, exposed, node) == 2, "org B's row leaks"
    assert _rows_seen_by_app(citus_cluster, citus_db, protected, node) == 1
