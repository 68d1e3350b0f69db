"""Reading the role and permission names a policy passes to tenantkit's functions."""

from __future__ import annotations

import pytest

from tenantkit.rls import all_permissions, exact_role, minimum_role, permission
from tenantkit.tables.names import KnownNames, UnknownRuleName, check_names, referenced_names

pytestmark = pytest.mark.nodb

KNOWN = KnownNames(frozenset({"Owner", "Admin", "Member"}), frozenset({"docs::write"}))


def test_generated_sql_and_postgres_deparse_read_the_same() -> None:
    rule = (minimum_role("Admin") | exact_role("O'Brien")) & all_permissions(["a", "b"])
    generated = referenced_names(rule.using())
    deparsed = referenced_names(
        "(( SELECT tenantkit.has_min_role('Admin'::text) AS has_min_role) OR "
        "( SELECT tenantkit.has_role('O''Brien'::text) AS has_role)) AND "
        "( SELECT tenantkit.has_all_permissions(ARRAY['a'::text, 'b'::text]) AS x)"
    )
    assert generated == deparsed == ({"Admin", "O'Brien"}, {"a", "b"})
    assert referenced_names(None) == (set(), set())


def test_unknown_names_are_refused_naming_the_known_ones() -> None:
    check_names("t.p", [minimum_role("Admin").using(), permission("docs::write").using()], KNOWN)
    with pytest.raises(UnknownRuleName) as info:
        check_names("t.p", [minimum_role("admin").using()], KNOWN)
    assert str(info.value) == (
        "t.p: role 'admin' is in no role mapping (known roles: Admin, Member, Owner)"
    )
    with pytest.raises(UnknownRuleName, match=r"permission 'docs:wrte' .*docs::write"):
        check_names("t.p", [permission("docs:wrte").check()], KNOWN)
