"""Doctor checks 17-19: a database that looks clean but serves nobody is reported.

- 17 `rule-names`: a policy naming a role or permission no role mapping has
  (`minimum_role("admin")` matches nobody);
- 18 `tenantkit-schema`: tenantkit's schema missing, or behind head;
- 19 `declared-missing`: declared tenant tables that do not exist (doctor used
  to say "every check passed" there).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tenantkit.doctor import Finding, run_checks
from tenantkit.migrate import head_revision
from tenantkit.rls import TableName, TenancySpec
from tenantkit.tables import declarations
from tenantkit.testing import RunningServer, TestDatabase, provision_database
from tenantkit.testing._safety import assert_tenant_safe
from tests.doctor.helpers import as_superuser, without_public_temp
from tests.tables.app.models import Base

pytestmark = pytest.mark.usefixtures("app_data", "hardened")

MODELS = declarations(Base.metadata)


@pytest.fixture(scope="module", autouse=True)
def hardened(tables_db: TestDatabase) -> Iterator[None]:
    with without_public_temp(tables_db):
        yield


def findings(conn: sa.Connection, db: TestDatabase, **kwargs: object) -> list[Finding]:
    options: dict[str, object] = {"app_role": db.roles.app, "declarations": MODELS, **kwargs}
    return run_checks(conn, **options)  # type: ignore[arg-type]


MISSPELLED = (
    "CREATE POLICY tenantkit_extra ON documents AS PERMISSIVE FOR DELETE TO {app} "
    "USING ((SELECT tenantkit.has_min_role('admin')) OR "
    "(SELECT tenantkit.has_permission('docs:wrte')))"
)


def test_17_a_misspelled_role_or_permission_is_an_error(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    with as_superuser(admin_engine_t, tables_db, MISSPELLED) as conn:
        found = [f for f in findings(conn, tables_db) if f.check == "rule-names"]
    assert [(f.severity, f.object) for f in found] == [
        ("error", "documents.tenantkit_extra"),
        ("error", "documents.tenantkit_extra"),
    ]
    assert found[0].problem == (
        "role 'admin' is in no role mapping (known roles: Admin, Member, Owner): "
        "the rule matches nobody"
    )
    assert found[1].problem.startswith("permission 'docs:wrte' is granted by no role")


def test_17_assert_tenant_safe_fails_on_it_too(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    with (
        as_superuser(admin_engine_t, tables_db, MISSPELLED) as conn,
        pytest.raises(AssertionError, match="role 'admin' is in no role mapping"),
    ):
        assert_tenant_safe(
            conn, app_role=tables_db.roles.app, metadata=Base.metadata, allow=["tenant-policy"]
        )


def test_18_behind_head(admin_engine_t: sa.Engine, tables_db: TestDatabase) -> None:
    with as_superuser(
        admin_engine_t, tables_db, "UPDATE tenantkit.alembic_version SET version_num = '0001'"
    ) as conn:
        found = [f for f in findings(conn, tables_db) if f.check == "tenantkit-schema"]
    assert [(f.severity, f.object, f.problem) for f in found] == [
        (
            "error",
            "tenantkit.alembic_version",
            f"tenantkit's schema is at 0001, behind head {head_revision()}",
        )
    ]
    assert found[0].fix.startswith("tenantkit migrate --database-url")


def test_18_and_19_on_a_database_never_migrated(tenantkit_server: RunningServer) -> None:
    bare = provision_database(tenantkit_server)
    engine = sa.create_engine(bare.url("owner"), poolclass=sa.NullPool)
    try:
        found = run_checks(engine, app_role=bare.roles.app, declarations=MODELS)
    finally:
        engine.dispose()
        if not tenantkit_server.throwaway:
            bare.drop()
    by_check = {(f.check, f.object): f for f in found}
    assert by_check[("tenantkit-schema", "tenantkit")].problem == "tenantkit's schema is missing"
    missing = sorted(obj for check, obj in by_check if check == "declared-missing")
    declared = sorted(str(n) for n, d in MODELS.items() if isinstance(d, TenancySpec))
    assert missing == [f"public.{name}" for name in declared]
    assert {f.severity for f in found if f.check == "declared-missing"} == {"error"}


def test_19_one_declared_table_missing(admin_engine_t: sa.Engine, tables_db: TestDatabase) -> None:
    declared = {**MODELS, TableName("invoices"): next(iter(MODELS.values()))}
    with as_superuser(admin_engine_t, tables_db) as conn:
        found = [
            f for f in findings(conn, tables_db, declarations=declared)
            if f.check == "declared-missing"
        ]
    assert [(f.object, f.problem) for f in found] == [
        ("public.invoices", "declared as a tenant table but not in the database")
    ]
