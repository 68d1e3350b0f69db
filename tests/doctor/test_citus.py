"""The doctor on Citus: no false findings on distributed tables; check 21
("citus-distribution") and check 2 ("tenant-policy") for Citus tables.

The Citus tests run on the cluster (marker `citus`); the first runs everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tenantkit.doctor import Finding, run_checks
from tenantkit.rls import TableName, TenancySpec, tenancy_statements
from tenantkit.tables import Target, declarations, distribute
from tenantkit.testing import TestDatabase
from tests.citus.conftest import citus_db, citus_owner, create_app_tables  # noqa: F401
from tests.citus.models import Base


def _findings(engine: sa.Engine, db: TestDatabase, **declared: TenancySpec) -> list[Finding]:
    found = {TableName(name, "public"): spec for name, spec in declared.items()}
    return [
        f
        for f in run_checks(engine, app_role=db.roles.app, declarations=found)
        if f.check in ("citus-distribution", "tenant-policy")
    ]


def test_without_citus_check_21_finds_nothing(
    owner_engine: sa.Engine, tenantkit_db: TestDatabase
) -> None:
    findings = run_checks(owner_engine, app_role=tenantkit_db.roles.app)
    assert [f for f in findings if f.check == "citus-distribution"] == []


@pytest.fixture(scope="module")
def placed(citus_owner: sa.Engine, citus_db: TestDatabase) -> None:  # noqa: F811
    create_app_tables(citus_owner, citus_db)
    with citus_owner.begin() as conn:
        distribute(conn, [Target(TableName("plans")), Target(TableName("docs"), "org_id"),
                          Target(TableName("comments"), "org_id")])


@pytest.fixture
def owner(citus_owner: sa.Engine) -> Iterator[sa.Connection]:  # noqa: F811
    with citus_owner.connect() as conn:
        yield conn
        conn.rollback()


def test_distributed_tenant_tables_get_no_finding_at_all(
    placed: None, citus_owner: sa.Engine, citus_db: TestDatabase  # noqa: F811
) -> None:
    findings = run_checks(
        citus_owner, app_role=citus_db.roles.app, declarations=declarations(Base.metadata)
    )
    # Only findings about the server and the setup, none about the tables.
    assert [f for f in findings if f.object in ("docs", "comments", "plans")] == []
    assert [f for f in findings if f.severity == "error"] == []


def _tenant_table(owner: sa.Connection, db: TestDatabase, name: str) -> TenancySpec:
    spec = TenancySpec(flavour="citus")
    owner.exec_driver_sql(
        f"CREATE TABLE {name} (org_id uuid NOT NULL, id int, PRIMARY KEY (org_id, id))"
    )
    for statement in tenancy_statements(TableName(name), spec, role=db.roles.app):
        owner.exec_driver_sql(statement, execution_options={"no_parameters": True})
    return spec


def test_a_tenant_table_left_on_the_coordinator_is_an_error(
    placed: None, owner: sa.Connection, citus_owner: sa.Engine, citus_db: TestDatabase  # noqa: F811
) -> None:
    spec = _tenant_table(owner, citus_db, "undistributed")
    owner.commit()
    try:
        findings = _findings(citus_owner, citus_db, undistributed=spec)
        assert [(f.check, f.severity, f.object) for f in findings] == [
            ("citus-distribution", "error", "undistributed")
        ]
        assert "plain table on the coordinator" in findings[0].problem
        assert "tenantkit distribute" in findings[0].fix
        # Fixed as the finding says: nothing left.
        distribute(owner, [Target(TableName("undistributed"), "org_id")])
        owner.commit()
        assert _findings(citus_owner, citus_db, undistributed=spec) == []
    finally:
        owner.exec_driver_sql("DROP TABLE undistributed")
        owner.commit()


def test_a_tenant_table_distributed_by_another_column_is_an_error(
    placed: None, owner: sa.Connection, citus_owner: sa.Engine, citus_db: TestDatabase  # noqa: F811
) -> None:
    spec = _tenant_table(owner, citus_db, "by_id")
    owner.exec_driver_sql("SELECT create_distributed_table('by_id', 'id')")
    owner.commit()
    try:
        findings = _findings(citus_owner, citus_db, by_id=spec)
        assert [(f.check, f.object) for f in findings] == [("citus-distribution", "by_id")]
        assert "distributed by id, not by its tenant column" in findings[0].problem
    finally:
        owner.exec_driver_sql("DROP TABLE by_id")
        owner.commit()


def test_tenant_tables_in_another_colocation_group_are_a_warning(
    placed: None, owner: sa.Connection, citus_owner: sa.Engine, citus_db: TestDatabase  # noqa: F811
) -> None:
    spec = _tenant_table(owner, citus_db, "apart")
    owner.exec_driver_sql(
        "SELECT create_distributed_table('apart', 'org_id', colocate_with => 'none')"
    )
    owner.commit()
    try:
        docs = Base.metadata.tables["docs"].info["tenantkit"]
        findings = _findings(citus_owner, citus_db, apart=spec, docs=docs)
        assert [(f.check, f.severity, f.object) for f in findings] == [
            ("citus-distribution", "warning", "apart")
        ]
        assert "update_distributed_table_colocation('apart'" in findings[0].fix
    finally:
        owner.exec_driver_sql("DROP TABLE apart")
        owner.commit()


def test_a_restrictive_or_an_unchecked_permissive_policy_on_a_citus_table_is_an_error(
    placed: None, owner: sa.Connection, citus_owner: sa.Engine, citus_db: TestDatabase  # noqa: F811
) -> None:
    app = f'"{citus_db.roles.app}"'
    owner.exec_driver_sql(
        f"CREATE POLICY extra ON docs AS RESTRICTIVE FOR ALL TO {app} "
        "USING (org_id = tenantkit.current_org_id())"
    )
    owner.exec_driver_sql(f"CREATE POLICY wide ON docs FOR SELECT TO {app} USING (title <> '')")
    owner.exec_driver_sql(
        f"CREATE POLICY ored ON docs FOR SELECT TO {app} "
        "USING ((org_id = tenantkit.current_org_id()) AND true OR title = 'x')"
    )
    try:
        findings = run_checks(
            owner, app_role=citus_db.roles.app, declarations=declarations(Base.metadata)
        )
        policy = sorted(
            (f.problem.split(" on a Citus")[0], f.severity)
            for f in findings
            if f.check == "tenant-policy"
        )
        assert policy == [
            ("RESTRICTIVE policy extra", "error"),
            ("permissive policy ored", "error"),
            ("permissive policy wide", "error"),
        ]
    finally:
        owner.rollback()
