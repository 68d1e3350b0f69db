"""The policy generator: exact SQL, rules, and the Citus flavour's shape."""

from __future__ import annotations

import pytest

from tenantkit.rls import (
    TableName,
    TenancySpec,
    all_permissions,
    any_member,
    deny,
    exact_role,
    minimum_role,
    permission,
    quote_ident,
    sql,
    tenancy_script,
    tenancy_statements,
)
from tenantkit.tables import declaration_of
from tests.tables.app.models import Comment, Document, Project

pytestmark = pytest.mark.nodb

DOCUMENTS_SQL = """\
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenantkit_isolation ON documents AS RESTRICTIVE FOR ALL TO tenantkit_app
    USING (org_id = (SELECT m.org_id FROM tenantkit.current_membership AS m))
    WITH CHECK (org_id = (SELECT m.org_id FROM tenantkit.current_membership AS m));
REVOKE ALL ON documents FROM tenantkit_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO tenantkit_app;
ALTER TABLE documents ALTER COLUMN org_id SET DEFAULT tenantkit.current_org_id();
CREATE TRIGGER tenantkit_refuse_tenant_change BEFORE UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION tenantkit.refuse_tenant_change('org_id');
CREATE POLICY tenantkit_select ON documents AS PERMISSIVE FOR SELECT TO tenantkit_app
    USING ((SELECT tenantkit.bound_user_id()) IS NOT NULL);
CREATE POLICY tenantkit_insert ON documents AS PERMISSIVE FOR INSERT TO tenantkit_app
    WITH CHECK ((SELECT tenantkit.has_min_role('Member')));
CREATE POLICY tenantkit_update ON documents AS PERMISSIVE FOR UPDATE TO tenantkit_app
    USING ((SELECT tenantkit.has_min_role('Member')))
    WITH CHECK ((SELECT tenantkit.has_min_role('Member')));
CREATE POLICY tenantkit_delete ON documents AS PERMISSIVE FOR DELETE TO tenantkit_app
    USING ((SELECT tenantkit.has_min_role('Admin')));
"""


def spec_of(model: object) -> TenancySpec:
    spec = declaration_of(model)
    assert isinstance(spec, TenancySpec)
    return spec


def test_the_exact_sql_for_documents() -> None:
    script = tenancy_script(TableName("documents"), spec_of(Document), role="tenantkit_app")
    assert script == DOCUMENTS_SQL


def test_every_function_call_is_wrapped_once_per_statement() -> None:
    for model in (Document, Comment, Project):
        for policy in spec_of(model).policies():
            for expression in (policy.using, policy.with_check):
                if expression is not None:
                    # The isolation policy reads the view in a subquery (no call).
                    calls = expression.count("tenantkit.") - expression.count(
                        "FROM tenantkit.current_membership"
                    )
                    assert expression.count("(SELECT tenantkit.") == calls, expression


@pytest.mark.parametrize(
    ("rule", "using"),
    [
        (any_member(), "(SELECT tenantkit.bound_user_id()) IS NOT NULL"),
        (minimum_role("Admin"), "(SELECT tenantkit.has_min_role('Admin'))"),
        (exact_role("Owner"), "(SELECT tenantkit.has_role('Owner'))"),
        (permission("docs:delete"), "(SELECT tenantkit.has_permission('docs:delete'))"),
        (
            all_permissions(["a", "b"]),
            "(SELECT tenantkit.has_all_permissions(ARRAY['a', 'b']))",
        ),
        (
            sql("author_id = (SELECT tenantkit.current_user_id())"),
            "author_id = (SELECT tenantkit.current_user_id())",
        ),
        (
            minimum_role("Admin") | permission("x"),
            "((SELECT tenantkit.has_min_role('Admin')) OR (SELECT tenantkit.has_permission('x')))",
        ),
        (
            minimum_role("Admin") & (permission("x") | permission("y")),
            "((SELECT tenantkit.has_min_role('Admin')) AND ((SELECT tenantkit.has_permission('x'))"
            " OR (SELECT tenantkit.has_permission('y'))))",
        ),
    ],
)
def test_rules(rule: object, using: str) -> None:
    assert rule.using() == using  # type: ignore[attr-defined]


def test_literals_are_quoted() -> None:
    assert minimum_role("O'Brien").using() == "(SELECT tenantkit.has_min_role('O''Brien'))"


def test_sql_rule_may_check_new_rows_differently() -> None:
    rule = sql("author_id = (SELECT tenantkit.current_user_id())", check="true AND false")
    assert rule.using() != rule.check() == "true AND false"


@pytest.mark.parametrize(
    "make",
    [
        lambda: minimum_role(""),
        lambda: minimum_role("   "),
        lambda: minimum_role(None),
        lambda: exact_role(""),
        lambda: exact_role(None),
        lambda: permission(""),
        lambda: permission(None),
        lambda: all_permissions([]),
        lambda: all_permissions(["ok", ""]),
        lambda: all_permissions(["ok", None]),
        lambda: all_permissions(None),
        lambda: all_permissions("one-string"),
        lambda: sql(""),
        lambda: sql(None),
        lambda: minimum_role("bad\\slash"),
        lambda: permission("nul\x00"),
        lambda: deny() | any_member(),
    ],
)
def test_empty_or_missing_arguments_are_programming_errors(make: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()  # type: ignore[operator]


def test_deny_withholds_policy_and_privilege() -> None:
    spec = TenancySpec(delete=deny(), update=deny())
    assert spec.privileges == ("SELECT", "INSERT")
    names = [p.name for p in spec.policies()]
    assert names == ["tenantkit_isolation", "tenantkit_select", "tenantkit_insert"]


def test_grants_never_include_what_rls_does_not_cover() -> None:
    for statement in tenancy_statements(TableName("t"), TenancySpec(), role="app"):
        if statement.startswith("GRANT"):
            for privilege in ("TRUNCATE", "TRIGGER", "REFERENCES", "ALL"):
                assert privilege not in statement


def test_policies_apply_to_the_app_role_and_isolation_is_restrictive_for_all() -> None:
    statements = tenancy_statements(TableName("t", "app"), TenancySpec(), role="the_app")
    policies = [s for s in statements if s.startswith("CREATE POLICY")]
    assert len(policies) == 5
    assert all(" TO the_app\n" in p for p in policies)
    isolation = policies[0]
    assert "AS RESTRICTIVE FOR ALL" in isolation
    assert "USING (org_id = " in isolation and "WITH CHECK (org_id = " in isolation
    assert all("AS PERMISSIVE" in p for p in policies[1:])


def test_citus_flavour_has_no_subqueries_no_restrictive_policy_and_no_trigger() -> None:
    spec = TenancySpec(
        flavour="citus",
        insert=minimum_role("Member"),
        update=all_permissions(["a"]),
        delete=exact_role("Owner") | permission("d"),
    )
    script = tenancy_script(TableName("events"), spec, role="tenantkit_app")
    assert "SELECT" not in script.replace("GRANT SELECT", "").replace("FOR SELECT", "")
    # Citus creates a RESTRICTIVE policy on the shards as PERMISSIVE: no isolation
    # policy; every command policy starts with the org check instead.
    assert "RESTRICTIVE" not in script and "tenantkit_isolation" not in script
    org = "(org_id = tenantkit.current_org_id()) AND "
    assert f"USING ({org}(tenantkit.bound_user_id() IS DISTINCT FROM NULL))" in script
    assert f"WITH CHECK ({org}(tenantkit.has_min_role('Member')))" in script
    delete = "(tenantkit.has_role('Owner') OR tenantkit.has_permission('d'))"
    assert f"USING ({org}({delete}))" in script
    assert script.count(org) == 5  # select, insert, update (USING and WITH CHECK), delete
    assert "IS NOT NULL" not in script and "TRIGGER" not in script
    assert "FORCE ROW LEVEL SECURITY" in script


def test_identifiers_are_quoted_only_when_needed() -> None:
    assert quote_ident("documents") == "documents"
    assert quote_ident("order") == '"order"'
    assert quote_ident("Mixed") == '"Mixed"'
    assert TableName("user", "my app").sql == '"my app"."user"'
    with pytest.raises(ValueError):
        quote_ident("")
