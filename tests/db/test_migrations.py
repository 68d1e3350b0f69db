"""tenantkit's own migrations: round trip, offline rendering, entry points."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tenantkit import migrate, schema
from tenantkit.cli import main
from tenantkit.sqlfiles import migrations_dir, sql_dir
from tenantkit.testing import RunningServer, TestDatabase, provision_database, seed_two_orgs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_db(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    yield db
    db.drop()


def _tables(db: TestDatabase) -> set[str]:
    with psycopg.connect(db.conninfo("admin")) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('tenantkit', 'public')"
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_round_trip_on_a_populated_database(empty_db: TestDatabase) -> None:
    url = empty_db.url("owner")
    migrate.upgrade(url, roles=empty_db.roles)
    engine = sa.create_engine(empty_db.url("service"), poolclass=sa.NullPool)
    with engine.begin() as conn:
        seed_two_orgs(conn)
    migrate.downgrade(url, roles=empty_db.roles)
    assert _tables(empty_db) == {"tenantkit.alembic_version"}
    migrate.upgrade(url, roles=empty_db.roles)
    with engine.begin() as conn:
        seed_two_orgs(conn)  # the schema works again, constraints and grants included
        assert conn.execute(sa.text("SELECT count(*) FROM tenantkit.orgs")).scalar() == 2
    engine.dispose()


def test_version_table_is_tenantkit_own(tenantkit_db: TestDatabase) -> None:
    tables = _tables(tenantkit_db)
    assert "tenantkit.alembic_version" in tables
    assert "public.alembic_version" not in tables


def test_install_sql_is_fresh() -> None:
    rendered = migrate.render_install_sql()
    committed = (sql_dir() / "install.sql").read_text()
    assert committed == rendered, (
        "sql/install.sql is stale: run `tenantkit migrate --sql > sql/install.sql`"
    )


def test_install_sql_applies_on_an_empty_database(empty_db: TestDatabase) -> None:
    script = migrate.render_install_sql(empty_db.roles)
    with psycopg.connect(empty_db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(script)  # BEGIN ... COMMIT inside
        version = conn.execute("SELECT version_num FROM tenantkit.alembic_version").fetchall()
    heads = {p.stem.split("_", 1)[0] for p in (migrations_dir() / "versions").glob("0*.py")}
    assert {v[0] for v in version} == {max(heads)}
    # A later `tenantkit migrate` sees the schema as current.
    migrate.upgrade(empty_db.url("owner"), roles=empty_db.roles)


def test_cli_migrate(empty_db: TestDatabase) -> None:
    url = empty_db.url("owner").render_as_string(hide_password=False)
    args = [
        "migrate",
        "--database-url",
        url,
        "--app-role",
        empty_db.roles.app,
        "--service-role",
        empty_db.roles.service,
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "tenantkit schema at head" in result.output
    assert "tenantkit.orgs" in _tables(empty_db)
    result = CliRunner().invoke(main, [*args, "--downgrade", "--revision", "base"])
    assert result.exit_code == 0, result.output
    assert "tenantkit.orgs" not in _tables(empty_db)


def test_cli_migrate_refuses_bad_role_names() -> None:
    result = CliRunner().invoke(main, ["migrate", "--sql", "--app-role", 'x"; DROP TABLE t; --'])
    assert result.exit_code != 0
    assert "lower-case identifier" in result.output


def test_plain_alembic(empty_db: TestDatabase) -> None:
    url = empty_db.url("owner").render_as_string(hide_password=False)
    command = [
        sys.executable,
        "-m",
        "alembic",
        "-c",
        str(REPO / "migrations" / "alembic.ini"),
        "-x",
        f"url={url}",
        "-x",
        f"app_role={empty_db.roles.app}",
        "-x",
        f"service_role={empty_db.roles.service}",
        "upgrade",
        "head",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert "tenantkit.orgs" in _tables(empty_db)


def test_schema_module_matches_the_database(tenantkit_db: TestDatabase) -> None:
    with psycopg.connect(tenantkit_db.conninfo("admin")) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'tenantkit'"
        ).fetchall()
    live: dict[str, set[str]] = {}
    for table, column in rows:
        live.setdefault(str(table), set()).add(str(column))
    for table in schema.metadata.tables.values():
        assert {c.name for c in table.columns} == live[table.name], table.name
