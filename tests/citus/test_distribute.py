"""Placing declared tables on Citus: `distribute`, `tenantkit distribute`, their refusals.

Every test reads the placement back from Citus's own catalog (pg_dist_partition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.sql.ddl import sort_tables

from tenantkit.cli import main
from tenantkit.rls import TENANT_DEFAULT, TRIGGER_NAME, TableName, create_trigger
from tenantkit.tables import (
    NotDeclared,
    Target,
    WrongDistribution,
    distribute,
    plan_distribution,
    targets_of,
)
from tenantkit.testing import TestDatabase
from tenantkit.testing.citus import CitusCluster
from tests.citus.conftest import create_app_tables, superuser_conn
from tests.citus.models import Base

Placement = Callable[[str], tuple[object, ...] | None]


@pytest.fixture(scope="module")
def app_tables(citus_owner: sa.Engine, citus_db: TestDatabase) -> None:
    create_app_tables(citus_owner, citus_db)


@pytest.fixture
def owner(citus_owner: sa.Engine) -> Iterator[sa.Connection]:
    with citus_owner.connect() as conn:
        yield conn
        conn.rollback()


def _targets() -> list[Target]:
    return targets_of(sort_tables(Base.metadata.tables.values()))


def test_tenant_tables_are_distributed_colocated_and_shared_ones_referenced(
    app_tables: None, owner: sa.Connection, placement: Placement
) -> None:
    steps = distribute(owner, _targets())
    owner.commit()
    assert [(str(s.table), s.action) for s in steps] == [
        ("comments", "drop foreign key comments_org_id_doc_id_fkey until both tables are "
         "distributed"),
        ("plans", "reference table (a copy on every node)"),
        ("docs", "distribute by org_id"),
        ("comments", "distribute by org_id, co-located with docs"),
        ("comments", "re-create foreign key comments_org_id_doc_id_fkey (co-located)"),
    ]
    keys = owner.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = 'public'::regnamespace ORDER BY 1"
    ).scalars().all()
    assert keys == ["comments_org_id_doc_id_fkey", "docs_plan_id_fkey"]
    docs, comments, plans = placement("docs"), placement("comments"), placement("plans")
    assert docs is not None and comments is not None and plans is not None
    assert docs[:2] == ("h", "org_id") and comments[:2] == ("h", "org_id")
    assert docs[2] == comments[2], "tenant tables share one co-location group"
    assert plans[0] == "n" and plans[3] == "t", "a reference table"
    # Idempotent: everything is placed as declared, so a second run does nothing.
    assert plan_distribution(owner, _targets()) == []
    assert distribute(owner, _targets()) == []


def test_the_tenant_default_is_set_before_distribution(
    citus_owner: sa.Engine, owner: sa.Connection, placement: Placement
) -> None:
    owner.exec_driver_sql(
        "CREATE TABLE bare (org_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org_id, id))"
    )
    owner.exec_driver_sql(create_trigger(TableName("bare"), "org_id"))
    steps = distribute(owner, [Target(TableName("bare"), "org_id")])
    assert [s.sql.split(" ")[0:2] for s in steps] == [
        ["ALTER", "TABLE"],
        ["DROP", "TRIGGER"],
        ["SELECT", "pg_catalog.create_distributed_table('bare',"],
    ]
    owner.commit()
    default = owner.exec_driver_sql(
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'bare'::regclass"
    ).scalar_one()
    assert default == TENANT_DEFAULT
    trigger = owner.exec_driver_sql(
        f"SELECT count(*) FROM pg_trigger WHERE tgname = '{TRIGGER_NAME}' "
        "AND tgrelid = 'bare'::regclass"
    ).scalar_one()
    assert trigger == 0
    assert placement("bare")[:2] == ("h", "org_id")  # type: ignore[index]
    # Afterwards Citus itself refuses the default: that is why it comes first.
    with pytest.raises(sa.exc.DBAPIError, match="partition column"):
        owner.exec_driver_sql(
            "ALTER TABLE bare ALTER COLUMN org_id SET DEFAULT tenantkit.current_org_id()"
        )


def test_a_table_distributed_by_another_column_is_refused(owner: sa.Connection) -> None:
    owner.exec_driver_sql(
        "CREATE TABLE by_id (org_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org_id, id))"
    )
    owner.exec_driver_sql("SELECT create_distributed_table('by_id', 'id')")
    owner.commit()
    with pytest.raises(WrongDistribution, match=r"distributed by 'id', not by its tenant column"):
        plan_distribution(owner, [Target(TableName("by_id"), "org_id")])


def test_a_missing_tenant_column_and_a_missing_table_are_refused(
    app_tables: None, owner: sa.Connection
) -> None:
    with pytest.raises(WrongDistribution, match="has no column 'tenant_id'"):
        plan_distribution(owner, [Target(TableName("plans"), "tenant_id")])
    with pytest.raises(NotDeclared, match="no such table"):
        plan_distribution(owner, [Target(TableName("nowhere"), "org_id")])


def test_a_plain_flavour_tenant_table_is_refused(owner: sa.Connection) -> None:
    owner.exec_driver_sql(
        "CREATE TABLE plain (org_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org_id, id))"
    )
    with pytest.raises(WrongDistribution, match='flavour="citus"'):
        plan_distribution(owner, [Target(TableName("plain"), "org_id", flavour="postgres")])


def test_tenant_tables_in_two_colocation_groups_are_refused(owner: sa.Connection) -> None:
    for name in ("group_a", "group_b"):
        owner.exec_driver_sql(
            f"CREATE TABLE {name} (org_id uuid NOT NULL, id int, PRIMARY KEY (org_id, id))"
        )
        owner.exec_driver_sql(
            f"SELECT create_distributed_table('{name}', 'org_id', colocate_with => 'none')"
        )
    owner.commit()
    targets = [Target(TableName("group_a"), "org_id"), Target(TableName("group_b"), "org_id")]
    with pytest.raises(WrongDistribution, match="update_distributed_table_colocation"):
        plan_distribution(owner, targets)


def test_a_shared_table_distributed_by_hash_is_refused(owner: sa.Connection) -> None:
    owner.exec_driver_sql("CREATE TABLE hashed (id int PRIMARY KEY)")
    owner.exec_driver_sql("SELECT create_distributed_table('hashed', 'id')")
    owner.commit()
    with pytest.raises(WrongDistribution, match="declared a shared table"):
        plan_distribution(owner, [Target(TableName("hashed"))])


def test_citus_refuses_to_move_a_row_to_another_org(
    app_tables: None,
    owner: sa.Connection,
    citus_cluster: CitusCluster,
    citus_db: TestDatabase,
) -> None:
    # No trigger on a distributed table: Citus itself refuses to change the
    # distribution column, even for a superuser (outside RLS).
    distribute(owner, _targets())
    owner.commit()
    a, b = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    with superuser_conn(citus_cluster, citus_db) as conn:
        conn.execute("INSERT INTO docs (org_id, title) VALUES (%s, 'of a')", (a,))
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="partition value"):
            conn.execute("UPDATE docs SET org_id = %s WHERE org_id = %s", (b, a))
        moved = conn.execute("SELECT count(*) FROM docs WHERE org_id = %s", (b,)).fetchone()
    assert moved == (0,)


def test_the_cli_distributes_and_is_idempotent(
    citus_cluster: CitusCluster, citus_db: TestDatabase
) -> None:
    db = citus_db
    url = db.url("owner").render_as_string(hide_password=False)
    runner = CliRunner()
    with superuser_conn(citus_cluster, db) as conn:
        conn.execute("DROP TABLE IF EXISTS comments, docs, plans CASCADE")
    engine = sa.create_engine(db.url("owner"), poolclass=sa.NullPool)
    try:
        create_app_tables(engine, db)
    finally:
        engine.dispose()
    dry = runner.invoke(
        main, ["distribute", "--database-url", url, "--models", "tests.citus.models", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "-- docs: distribute by org_id" in dry.output
    assert "create_distributed_table('docs', 'org_id'" in dry.output
    command = ["distribute", "--database-url", url, "--models", "tests.citus.models"]
    first = runner.invoke(main, command)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[1:4] == [
        "plans: reference table (a copy on every node)",
        "docs: distribute by org_id",
        "comments: distribute by org_id, co-located with docs",
    ]
    again = runner.invoke(main, command)
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    unknown = runner.invoke(
        main,
        [*command, "--table", "nope"],
    )
    assert unknown.exit_code == 1
    assert "nope: not a declared table" in unknown.output
