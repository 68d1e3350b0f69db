"""`tenantkit doctor`: each check finds its broken setup; the generated schema is clean.

Every broken setup is built as a superuser inside a transaction that is
rolled back, and the checks run on that same connection (in a savepoint).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tenantkit.cli import main
from tenantkit.doctor import CHECKS, Finding, run_checks
from tenantkit.doctor._checks import version_finding
from tenantkit.rls import TableName
from tenantkit.tables import SharedTable, declarations
from tenantkit.testing import TestDatabase
from tenantkit.testing._safety import assert_tenant_safe
from tests.doctor.helpers import without_public_temp
from tests.tables.app.models import Base

pytestmark = pytest.mark.usefixtures("app_data", "hardened")

MODELS = declarations(Base.metadata)


@pytest.fixture(scope="module", autouse=True)
def hardened(tables_db: TestDatabase) -> Iterator[None]:
    """No TEMPORARY for PUBLIC (check 14) while these tests run: the clean baseline."""
    with without_public_temp(tables_db):
        yield


@contextmanager
def broken(engine: sa.Engine, db: TestDatabase, *statements: str) -> Iterator[sa.Connection]:
    """A superuser connection where `statements` ran, all rolled back afterwards."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            for statement in statements:
                conn.exec_driver_sql(
                    statement.format(app=db.roles.app, owner=db.owner),
                    execution_options={"no_parameters": True},
                )
            yield conn
        finally:
            transaction.rollback()


def findings(conn: sa.Connection, db: TestDatabase, **kwargs: object) -> list[Finding]:
    options: dict[str, object] = {"app_role": db.roles.app, "declarations": MODELS, **kwargs}
    return run_checks(conn, **options)  # type: ignore[arg-type]


def only(found: list[Finding], check: str) -> list[tuple[str, str]]:
    """(severity, object) of the findings of one check; fails if another check fired."""
    assert {f.check for f in found} <= {check}, found
    return [(f.severity, f.object) for f in found]


def test_generated_schema_is_clean(owner_engine_t: sa.Engine, tables_db: TestDatabase) -> None:
    assert findings_on(owner_engine_t, tables_db) == []


def findings_on(engine: sa.Engine, db: TestDatabase) -> list[Finding]:
    return run_checks(engine, app_role=db.roles.app, declarations=MODELS)


def test_generated_schema_is_clean_without_declarations_too(
    owner_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    assert run_checks(owner_engine_t, app_role=tables_db.roles.app) == []


def test_checks_are_numbered_one_to_twenty_one_in_one_registry() -> None:
    assert [check.number for check in CHECKS.values()] == list(range(1, 22))
    assert all(check.id == check_id for check_id, check in CHECKS.items())


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("ALTER TABLE documents NO FORCE ROW LEVEL SECURITY", "lacks FORCE"),
        ("ALTER TABLE documents DISABLE ROW LEVEL SECURITY", "lacks ENABLE"),
    ],
)
def test_1_rls_not_enabled_or_forced(
    admin_engine_t: sa.Engine, tables_db: TestDatabase, statement: str, problem: str
) -> None:
    with broken(admin_engine_t, tables_db, statement) as conn:
        found = findings(conn, tables_db)
    assert only(found, "rls-force") == [("error", "documents")]
    assert problem in found[0].problem
    assert "ROW LEVEL SECURITY" in found[0].fix


def test_2_missing_restrictive_policy(admin_engine_t: sa.Engine, tables_db: TestDatabase) -> None:
    with broken(admin_engine_t, tables_db, "DROP POLICY tenantkit_isolation ON documents") as conn:
        found = findings(conn, tables_db)
    assert only(found, "tenant-policy") == [("error", "documents")]
    assert "CREATE POLICY tenantkit_isolation ON public.documents AS RESTRICTIVE" in found[0].fix


def test_2_restrictive_policy_without_with_check(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = (
        "DROP POLICY tenantkit_isolation ON documents",
        "CREATE POLICY half ON documents AS RESTRICTIVE FOR ALL TO {app} "
        "USING (org_id = (SELECT tenantkit.current_org_id()))",
    )
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = findings(conn, tables_db)
    assert only(found, "tenant-policy") == [("error", "documents")]
    assert "no WITH CHECK" in found[0].problem


def test_2_restrictive_policy_for_another_role(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = ("ALTER POLICY tenantkit_isolation ON documents TO {owner}",)
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = findings(conn, tables_db)
    assert only(found, "tenant-policy") == [("error", "documents")]


def test_2_restrictive_policy_that_does_not_bind_the_org(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statement = (
        "ALTER POLICY tenantkit_isolation ON documents "
        "USING (org_id IS NOT NULL) WITH CHECK (org_id IS NOT NULL)"
    )
    with broken(admin_engine_t, tables_db, statement) as conn:
        found = findings(conn, tables_db)
    assert only(found, "tenant-policy") == [("warning", "documents")]


def test_2_hand_written_equivalent_policy_passes(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    # Same predicate under another name, and the Citus flavour's unwrapped call.
    statements = (
        "DROP POLICY tenantkit_isolation ON documents",
        "CREATE POLICY tenant_isolation ON documents AS RESTRICTIVE FOR ALL TO {app} "
        "USING (org_id = (SELECT tenantkit.current_org_id())) "
        "WITH CHECK (org_id = (SELECT tenantkit.current_org_id()))",
        "ALTER POLICY tenantkit_isolation ON comments "
        "USING (org_id = tenantkit.current_org_id()) "
        "WITH CHECK (org_id = tenantkit.current_org_id())",
    )
    with broken(admin_engine_t, tables_db, *statements) as conn:
        assert findings(conn, tables_db) == []


def test_3_true_policy(admin_engine_t: sa.Engine, tables_db: TestDatabase) -> None:
    statement = "CREATE POLICY everyone ON projects FOR SELECT TO {app} USING (true)"
    with broken(admin_engine_t, tables_db, statement) as conn:
        found = findings(conn, tables_db)
    assert only(found, "true-policy") == [("error", "projects")]
    assert "everyone" in found[0].problem


@pytest.mark.parametrize(
    ("statement", "obj", "words"),
    [
        ("ALTER ROLE {app} SUPERUSER", "{app}", "superuser"),
        ("ALTER ROLE {app} BYPASSRLS", "{app}", "BYPASSRLS"),
        ("ALTER ROLE {app} REPLICATION", "{app}", "REPLICATION"),
        ("ALTER TABLE projects OWNER TO {app}", "projects", "owns"),
        ("GRANT {owner} TO {app}", "{owner}", "is granted"),
        ("GRANT TRUNCATE ON documents TO {app}", "documents", "TRUNCATE"),
        ("GRANT TRIGGER ON comments TO {app}", "comments", "TRIGGER"),
        ("GRANT REFERENCES ON projects TO PUBLIC", "projects", "REFERENCES"),
    ],
)
def test_4_app_role_can_bypass_or_escape_rls(
    admin_engine_t: sa.Engine, tables_db: TestDatabase, statement: str, obj: str, words: str
) -> None:
    with broken(admin_engine_t, tables_db, statement) as conn:
        found = findings(conn, tables_db)
    assert found, "no finding"
    # A member of the database owner also inherits its TEMPORARY (check 14).
    assert {f.check for f in found} - {"temp"} == {"app-role"}
    assert ("temp" in {f.check for f in found}) == ("{owner} TO" in statement)
    assert all(f.severity == "error" for f in found)
    target = obj.format(app=tables_db.roles.app, owner=tables_db.owner)
    assert any(f.object == target and words in f.problem for f in found), found


def test_4_owned_tenant_table_is_reported_once(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    # The gate would also say "owns a table with row-level security": one finding, per table.
    with broken(admin_engine_t, tables_db, "ALTER TABLE projects OWNER TO {app}") as conn:
        found = findings(conn, tables_db)
    assert any(f.object == "projects" and "the app role owns" in f.problem for f in found)
    assert [f for f in found if f.object == tables_db.roles.app] == []


def test_4_missing_app_role(owner_engine_t: sa.Engine) -> None:
    found = run_checks(owner_engine_t, app_role="no_such_role", declarations=MODELS)
    assert any(f.check == "app-role" and "does not exist" in f.problem for f in found)


def test_5_unique_index_and_foreign_key_without_the_tenant_column(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = (
        "CREATE UNIQUE INDEX documents_id_key ON documents (id)",
        "ALTER TABLE comments ADD CONSTRAINT comments_document_fk "
        "FOREIGN KEY (document_id) REFERENCES documents (id)",
    )
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = findings(conn, tables_db)
    # documents (id) is also an index not led by the tenant column (check 15).
    assert [(f.check, f.object) for f in found if f.check == "index-oracle"] == [
        ("index-oracle", "documents_id_key")
    ]
    assert only([f for f in found if f.check != "index-oracle"], "tenant-keys") == [
        ("error", "comments.comments_document_fk"),
        ("error", "documents_id_key"),
    ]


def test_5_foreign_key_to_a_shared_table_is_fine(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    # projects.plan_code -> plans(code): plans has no RLS, so nothing is hidden.
    with broken(admin_engine_t, tables_db) as conn:
        assert findings(conn, tables_db) == []


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            (
                "CREATE VIEW titles AS SELECT title FROM documents",
                "GRANT SELECT ON titles TO {app}",
            ),
            [("error", "titles")],
        ),
        (("CREATE VIEW titles AS SELECT title FROM documents",), [("warning", "titles")]),
        (
            (
                "CREATE VIEW inner_titles WITH (security_invoker = true) AS "
                "SELECT title FROM documents",
                "CREATE VIEW outer_titles AS SELECT * FROM inner_titles",
            ),
            [("warning", "outer_titles")],
        ),
        (
            ("CREATE VIEW titles WITH (security_invoker = on) AS SELECT title FROM documents",),
            [],
        ),
        (
            ("CREATE MATERIALIZED VIEW title_cache AS SELECT title FROM documents",),
            [("warning", "title_cache")],
        ),
    ],
)
def test_6_views_and_materialized_views(
    admin_engine_t: sa.Engine,
    tables_db: TestDatabase,
    statements: tuple[str, ...],
    expected: list[tuple[str, str]],
) -> None:
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = findings(conn, tables_db)
    assert only(found, "views") == expected


def test_7_security_definer_unpinned_and_public(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = (
        "CREATE FUNCTION public.count_docs() RETURNS bigint LANGUAGE sql SECURITY DEFINER "
        "AS 'SELECT count(*) FROM documents'",
        "CREATE FUNCTION public.count_docs_safely() RETURNS bigint LANGUAGE sql "
        "SECURITY DEFINER SET search_path = '' AS 'SELECT count(*) FROM public.documents'",
        "REVOKE EXECUTE ON FUNCTION public.count_docs_safely() FROM PUBLIC",
    )
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = findings(conn, tables_db)
    assert only(found, "security-definer") == [("error", "count_docs()")] * 2
    assert {f.fix.split(" ")[0] for f in found} == {"ALTER", "REVOKE"}


def test_8_leakproof_function(admin_engine_t: sa.Engine, tables_db: TestDatabase) -> None:
    statement = (
        "CREATE FUNCTION public.peek(text) RETURNS boolean LANGUAGE sql IMMUTABLE LEAKPROOF "
        "AS 'SELECT true'"
    )
    with broken(admin_engine_t, tables_db, statement) as conn:
        found = findings(conn, tables_db)
    assert only(found, "leakproof") == [("error", "peek(text)")]


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            (
                "CREATE TABLE documents_archive () INHERITS (documents)",
                "GRANT SELECT ON documents_archive TO {app}",
            ),
            [("error", "documents_archive")],
        ),
        (("CREATE TABLE documents_archive () INHERITS (documents)",), []),
        (
            (
                "CREATE TABLE events (org_id uuid NOT NULL, id uuid NOT NULL, "
                "PRIMARY KEY (org_id, id)) PARTITION BY HASH (org_id)",
                "CREATE TABLE events_0 PARTITION OF events "
                "FOR VALUES WITH (MODULUS 2, REMAINDER 0)",
                "ALTER TABLE events ENABLE ROW LEVEL SECURITY",
                "ALTER TABLE events FORCE ROW LEVEL SECURITY",
                "CREATE POLICY tenantkit_isolation ON events AS RESTRICTIVE FOR ALL TO {app} "
                "USING (org_id = (SELECT tenantkit.current_org_id())) "
                "WITH CHECK (org_id = (SELECT tenantkit.current_org_id()))",
                "GRANT SELECT ON events, events_0 TO {app}",
            ),
            [("error", "events_0")],
        ),
    ],
)
def test_9_partitions_and_children_the_app_role_can_reach(
    admin_engine_t: sa.Engine,
    tables_db: TestDatabase,
    statements: tuple[str, ...],
    expected: list[tuple[str, str]],
) -> None:
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = [f for f in findings(conn, tables_db, declarations=None) if f.check != "undeclared"]
    assert only(found, "partitions") == expected


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("version_num", "ok"),
    [
        (180000, True),
        (180003, True),
        (170006, True),
        (170005, False),
        (161000, True),
        (160009, False),
        (150014, True),
        (150013, False),
        (140019, True),
        (140018, False),
        (130022, True),
        (130021, False),
        (120022, False),
        (190000, True),
    ],
)
def test_10_server_version_floor(version_num: int, ok: bool) -> None:
    finding = version_finding(version_num, str(version_num))
    assert (finding is None) == ok
    if finding is not None:
        assert finding.check == "server-version" and finding.severity == "error"


def test_10_this_server_is_above_the_floor(
    owner_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    with owner_engine_t.connect() as conn:
        number = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one())
        found = findings(conn, tables_db)
    assert [f for f in found if f.check == "server-version"] == (
        [] if version_finding(number, "") is None else found
    )


def test_11_undeclared_table_with_the_tenant_column(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statement = "CREATE TABLE exports (org_id uuid NOT NULL, payload text)"
    with broken(admin_engine_t, tables_db, statement) as conn:
        found = findings(conn, tables_db)
        assert only(found, "undeclared") == [("error", "public.exports")]
        # Without declarations the database is the witness: still undeclared.
        assert only(findings(conn, tables_db, declarations=None), "undeclared")
        # An explicit opt-out silences it.
        opted_out = {**MODELS, TableName("exports"): SharedTable("exports for billing")}
        assert findings(conn, tables_db, declarations=opted_out) == []


def test_11_hand_written_tenant_table_is_audited_but_undeclared(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = (
        "CREATE TABLE notes (org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id))",
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
    )
    with broken(admin_engine_t, tables_db, *statements) as conn:
        checks = {f.check for f in findings(conn, tables_db)}
        assert checks == {"undeclared", "rls-force", "tenant-policy"}
        # Without declarations, a table with RLS set up counts as declared.
        checks = {f.check for f in findings(conn, tables_db, declarations=None)}
        assert checks == {"rls-force", "tenant-policy"}


def test_12_tenant_column_leads_no_index(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = (
        "CREATE TABLE notes (id uuid NOT NULL, org_id uuid NOT NULL, PRIMARY KEY (id, org_id))",
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE notes FORCE ROW LEVEL SECURITY",
        "CREATE POLICY tenantkit_isolation ON notes AS RESTRICTIVE FOR ALL TO {app} "
        "USING (org_id = (SELECT tenantkit.current_org_id())) "
        "WITH CHECK (org_id = (SELECT tenantkit.current_org_id()))",
    )
    with broken(admin_engine_t, tables_db, *statements) as conn:
        found = findings(conn, tables_db, declarations=None)
    # Check 12 for the table, check 15 for its one index (the primary key).
    assert [(f.check, f.severity, f.object) for f in found] == [
        ("tenant-index", "warning", "notes"),
        ("index-oracle", "warning", "notes_pkey"),
    ]
    assert found[0].fix == "CREATE INDEX ON notes (org_id, ...);"
    assert "notes_pkey" in found[1].fix and "org_id" in found[1].fix


def test_cli_clean_database_exits_zero(tables_db: TestDatabase) -> None:
    url = tables_db.url("owner").render_as_string(hide_password=False)
    args = [
        "doctor",
        "--database-url",
        url,
        "--app-role",
        tables_db.roles.app,
        "--models",
        "tests.tables.app.models",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output


def test_cli_errors_exit_non_zero_with_json(tables_db: TestDatabase) -> None:
    url = tables_db.url("owner").render_as_string(hide_password=False)
    args = ["doctor", "--database-url", url, "--app-role", "nobody", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["errors"] == len(document["findings"]) > 0
    assert {f["check"] for f in document["findings"]} == {"app-role", "tenant-policy"}
    first = document["findings"][0]
    assert set(first) == {"number", "check", "severity", "object", "problem", "fix"}


def test_cli_table_has_one_row_per_finding(tables_db: TestDatabase) -> None:
    url = tables_db.url("owner").render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["doctor", "--database-url", url, "--app-role", "nobody"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["SEVERITY", "CHECK", "OBJECT", "PROBLEM", "FIX"]
    rows = [line for line in lines[1:] if line.startswith(("ERROR", "WARNING"))]
    assert len(rows) == 4  # three tenant tables' policies + the missing role
    assert lines[-1] == "4 error(s), 0 warning(s)"


def test_assert_tenant_safe(
    owner_engine_t: sa.Engine, admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    assert_tenant_safe(owner_engine_t, app_role=tables_db.roles.app, metadata=Base.metadata)
    with broken(admin_engine_t, tables_db, "GRANT TRUNCATE ON documents TO {app}") as conn:
        with pytest.raises(AssertionError, match="TRUNCATE"):
            assert_tenant_safe(conn, app_role=tables_db.roles.app, metadata=Base.metadata)
        assert_tenant_safe(
            conn, app_role=tables_db.roles.app, metadata=Base.metadata, allow=["app-role"]
        )


def test_assert_tenant_safe_accepts_one_finding_by_object(
    admin_engine_t: sa.Engine, tables_db: TestDatabase
) -> None:
    statements = (
        "CREATE INDEX documents_title_idx ON documents (title)",
        "CREATE INDEX comments_body_idx ON comments (body)",
    )
    role = tables_db.roles.app
    with broken(admin_engine_t, tables_db, *statements) as conn:
        with pytest.raises(AssertionError, match="comments_body_idx"):
            assert_tenant_safe(
                conn,
                app_role=role,
                metadata=Base.metadata,
                allow=["index-oracle:documents_title_idx"],
            )
        assert_tenant_safe(
            conn,
            app_role=role,
            metadata=Base.metadata,
            allow=["index-oracle:documents_title_idx", "index-oracle:comments_body_idx"],
        )
        with pytest.raises(ValueError, match="unknown checks"):
            assert_tenant_safe(conn, app_role=role, allow=["no-such-check:x"])


@pytest.mark.nodb
def test_cli_lists_the_checks() -> None:
    result = CliRunner().invoke(main, ["doctor", "--list-checks"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines] == [
        [str(check.number), check.id] for check in CHECKS.values()
    ]


def test_cli_refuses_an_unknown_check_to_skip(tables_db: TestDatabase) -> None:
    url = tables_db.url("owner").render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["doctor", "--database-url", url, "--skip", "nope"])
    assert result.exit_code == 2
    assert "index-oracle" in result.output  # the choices are listed


def test_2_a_doctor_role_without_temporary_says_it_could_not_compare(
    tables_db: TestDatabase,
) -> None:
    # The service role reads the catalog but cannot build check 2's scratch
    # table (no TEMPORARY once PUBLIC's is revoked, no SELECT on the tables):
    # a warning per table, not a silent pass.
    engine = sa.create_engine(tables_db.url("service"), poolclass=sa.NullPool)
    try:
        found = run_checks(engine, app_role=tables_db.roles.app, declarations=MODELS)
    finally:
        engine.dispose()
    assert only(found, "tenant-policy") == [
        ("warning", "comments"),
        ("warning", "documents"),
        ("warning", "projects"),
    ]
    assert all("could not compare" in f.problem for f in found)
