"""`tenantkit migrate` and `tenantkit roles create`: mistakes are one line with a hint.

Before: `tenantkit migrate` without the roles, or with a wrong port, printed a
50-line traceback, and migrating as the superuser gave no warning.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from tenantkit.cli import main
from tenantkit.testing import RunningServer, TestDatabase, provision_database
from tenantkit.testing.database import libpq_conninfo


@pytest.fixture
def bare(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    yield db
    if not tenantkit_server.throwaway:
        db.drop()


def url(db: TestDatabase, role: str = "owner") -> str:
    return db.url(role).render_as_string(hide_password=False)  # type: ignore[arg-type]


def run(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output, result.exception


def test_missing_roles_print_the_create_role_statements(bare: TestDatabase) -> None:
    suffix = secrets.token_hex(3)
    app, service = f"nope_app_{suffix}", f"nope_service_{suffix}"
    code, output, _ = run(
        "migrate", "--database-url", url(bare), "--app-role", app, "--service-role", service
    )
    assert code == 1, output
    assert "Traceback" not in output
    assert f"Error: the role(s) {app}, {service} do not exist" in output
    assert f"  CREATE ROLE {app} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;" in output
    assert f"tenantkit roles create --database-url <superuser URL> --app-role {app}" in output


def test_roles_create_runs_them(bare: TestDatabase) -> None:
    suffix = secrets.token_hex(3)
    app, service = f"made_app_{suffix}", f"made_service_{suffix}"
    try:
        code, output, _ = run(
            "roles", "create", "--database-url", url(bare, "admin"),
            "--app-role", app, "--service-role", service,
        )
        assert code == 0, output
        assert f"CREATE ROLE {app} LOGIN NOSUPERUSER NOBYPASSRLS" in output
        code, output, _ = run(
            "migrate", "--database-url", url(bare), "--app-role", app, "--service-role", service
        )
        assert code == 0, output
        assert "tenantkit schema at head" in output
        assert "warning" not in output
    finally:
        with psycopg.connect(libpq_conninfo(bare.server.admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(bare.name)))
            for role in (app, service):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_migrating_as_a_superuser_warns(bare: TestDatabase) -> None:
    code, output, _ = run(
        "migrate", "--database-url", url(bare, "admin"),
        "--app-role", bare.roles.app, "--service-role", bare.roles.service,
    )
    assert code == 0, output
    assert "warning: migrating as the superuser" in output
    assert f"run tenantkit migrate as the owner ({bare.owner}) instead" in output


def test_a_wrong_port_is_one_line_and_debug_shows_the_traceback(bare: TestDatabase) -> None:
    wrong = bare.url("owner").set(host="127.0.0.1", port=1, query={})
    target = wrong.render_as_string(hide_password=False)
    code, output, _ = run("migrate", "--database-url", target)
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: cannot connect to the database: ")
    assert lines[0].endswith("(--debug shows the traceback)")
    code, output, exception = run("--debug", "migrate", "--database-url", target)
    assert code == 1
    assert exception is not None and type(exception).__name__ == "OperationalError"
