"""`tenantkit policies`: the SQL of the declared tables, for review or for teams without Alembic."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tenantkit.cli import main
from tests.tables.test_rls import DOCUMENTS_SQL

pytestmark = pytest.mark.nodb


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["policies", *args])
    return result.exit_code, result.output


def test_prints_every_declared_table() -> None:
    code, output = run("--models", "tests.tables.app.models")
    assert code == 0, output
    for table in ("comments", "documents", "projects"):
        assert f"-- {table}: tenant table, tenant column org_id\n" in output
    assert "plans" not in output
    assert DOCUMENTS_SQL in output


def test_one_table_with_another_app_role() -> None:
    code, output = run(
        "--models",
        "tests.tables.app.models:Base",
        "--table",
        "documents",
        "--app-role",
        "tenantkit_app",
    )
    assert code == 0, output
    assert output == "-- documents: tenant table, tenant column org_id\n" + DOCUMENTS_SQL + "\n"


def test_unknown_module_is_a_usage_error() -> None:
    code, output = run("--models", "no.such.module")
    assert code == 2
    assert "cannot import" in output


def test_module_without_declarations() -> None:
    code, output = run("--models", "tenantkit.rls")
    assert code == 1
    assert "no declared tables" in output
