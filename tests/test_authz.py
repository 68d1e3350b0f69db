"""require_* checks: PropelAuth's role semantics, 401 vs 403, and the deliberate differences."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tenantkit.authz import (
    require_org_member,
    require_org_member_with_all_permissions,
    require_org_member_with_exact_role,
    require_org_member_with_minimum_role,
    require_org_member_with_permission,
    require_user,
)
from tenantkit.errors import Forbidden, Unauthorized
from tenantkit.tokens import MULTI_ROLE, SINGLE_ROLE_IN_HIERARCHY, OrgMemberInfo, Principal
from tests.tokens._helpers import ORG, OTHER_ORG, USER

pytestmark = pytest.mark.nodb

ADMIN = OrgMemberInfo(
    org_id=ORG,
    user_role="Admin",
    inherited_user_roles_plus_current_role=("Admin", "Member"),
    user_permissions=("read", "write"),
    org_role_structure=SINGLE_ROLE_IN_HIERARCHY,
)
# Multi-role: Viewer plus Billing, no hierarchy even though "Member" sits in the inherited list.
VIEWER_BILLING = OrgMemberInfo(
    org_id=ORG,
    user_role="Viewer",
    inherited_user_roles_plus_current_role=("Viewer", "Member"),
    user_permissions=("read", "invoices:read"),
    additional_roles=("Billing",),
    org_role_structure=MULTI_ROLE,
)
# Single-role org that (oddly) lists additional roles: PropelAuth ignores them there.
OWNER_WITH_EXTRA = OrgMemberInfo(
    org_id=ORG,
    user_role="Owner",
    inherited_user_roles_plus_current_role=("Owner", "Admin", "Member"),
    user_permissions=(),
    additional_roles=("Billing",),
)

CHECKS: dict[str, Callable[..., OrgMemberInfo]] = {
    "exact": require_org_member_with_exact_role,
    "minimum": require_org_member_with_minimum_role,
    "permission": require_org_member_with_permission,
    "all_permissions": require_org_member_with_all_permissions,
}

# (membership, check, argument, allowed) — PropelAuth's behaviour (tokens.md §1.5, §1.9).
TABLE: list[tuple[OrgMemberInfo, str, Any, bool]] = [
    # single role in hierarchy: minimum = in the inherited list, exact = user_role
    (ADMIN, "minimum", "Member", True),
    (ADMIN, "minimum", "Admin", True),
    (ADMIN, "minimum", "Owner", False),
    (ADMIN, "minimum", "admin", False),  # case-sensitive
    (ADMIN, "exact", "Admin", True),
    (ADMIN, "exact", "Member", False),
    (ADMIN, "exact", "Owner", False),
    (OWNER_WITH_EXTRA, "minimum", "Member", True),
    (OWNER_WITH_EXTRA, "exact", "Billing", False),
    (OWNER_WITH_EXTRA, "minimum", "Billing", False),
    # multi-role: minimum and exact both mean "user_role or an additional role"
    (VIEWER_BILLING, "exact", "Viewer", True),
    (VIEWER_BILLING, "exact", "Billing", True),
    (VIEWER_BILLING, "minimum", "Billing", True),
    (VIEWER_BILLING, "minimum", "Viewer", True),
    (VIEWER_BILLING, "minimum", "Member", False),  # inheritance is not applied
    (VIEWER_BILLING, "exact", "Admin", False),
    # permissions: plain membership in user_permissions
    (ADMIN, "permission", "read", True),
    (ADMIN, "permission", "delete", False),
    (ADMIN, "permission", "rea", False),
    (ADMIN, "all_permissions", ["read"], True),
    (ADMIN, "all_permissions", ["read", "write"], True),
    (ADMIN, "all_permissions", ("write", "read"), True),
    (ADMIN, "all_permissions", {"read", "write"}, True),
    (ADMIN, "all_permissions", ["read", "delete"], False),
    (VIEWER_BILLING, "permission", "invoices:read", True),
    (VIEWER_BILLING, "all_permissions", ["read", "write"], False),
]


def _member_only(principal: Principal, org_id: str, _: object) -> OrgMemberInfo:
    return require_org_member(principal, org_id)


def principal_with(*orgs: OrgMemberInfo, active: str | None = None) -> Principal:
    return Principal(
        user_id=USER, org_id_to_org_member_info={o.org_id: o for o in orgs}, active_org_id=active
    )


def _case_id(case: tuple[OrgMemberInfo, str, Any, bool]) -> str:
    org, check, argument, allowed = case
    return f"{org.user_role}-{check}-{argument}-{'allow' if allowed else 'deny'}"


@pytest.mark.parametrize(("org", "check", "argument", "allowed"), TABLE, ids=map(_case_id, TABLE))
def test_role_and_permission_semantics(
    org: OrgMemberInfo, check: str, argument: Any, allowed: bool
) -> None:
    principal = principal_with(org)
    method = {
        "exact": org.user_is_role,
        "minimum": org.user_is_at_least_role,
        "permission": org.user_has_permission,
        "all_permissions": org.user_has_all_permissions,
    }[check]
    assert method(argument) is allowed
    if allowed:
        assert CHECKS[check](principal, ORG, argument) is org
    else:
        with pytest.raises(Forbidden) as caught:
            CHECKS[check](principal, ORG, argument)
        assert caught.value.status_code == 403
        kind = "permission" if "permission" in check else "role"
        assert caught.value.message == f"user doesn't have the required {kind}"


# --- membership, 401 vs 403 ----------------------------------------------------------------


def test_require_user() -> None:
    principal = principal_with(ADMIN)
    assert require_user(principal) is principal
    with pytest.raises(Unauthorized) as caught:
        require_user(None)
    assert caught.value.message == "authentication required"
    assert caught.value.status_code == 401


@pytest.mark.parametrize("check", list(CHECKS))
def test_no_principal_is_401_before_anything_else(check: str) -> None:
    argument = ["read"] if check == "all_permissions" else "read"
    with pytest.raises(Unauthorized):
        CHECKS[check](None, OTHER_ORG, argument)
    with pytest.raises(Unauthorized):
        require_org_member(None, ORG)


def test_a_member_gets_its_membership() -> None:
    assert require_org_member(principal_with(ADMIN), ORG) is ADMIN


def test_a_uuid_org_id_is_accepted() -> None:
    assert require_org_member(principal_with(ADMIN), uuid.UUID(ORG)) is ADMIN


@pytest.mark.parametrize("check", [*CHECKS, "member"])
def test_a_non_member_is_403(check: str) -> None:
    principal = principal_with(ADMIN)
    argument = ["read"] if check == "all_permissions" else "Member"
    check_fn = CHECKS.get(check, _member_only)
    with pytest.raises(Forbidden) as caught:
        check_fn(principal, OTHER_ORG, argument)
    assert caught.value.message == "user is not a member of this org"
    assert OTHER_ORG not in caught.value.message


@pytest.mark.parametrize("org_id", [None, ""])
def test_an_unspecified_org_is_403_with_no_fallback(org_id: str | None) -> None:
    # The user belongs to exactly one org, and the token even names it active:
    # still no fallback to it.
    principal = principal_with(ADMIN, active=ORG)
    with pytest.raises(Forbidden) as caught:
        require_org_member(principal, org_id)
    assert caught.value.message == "required org is unspecified"


def test_a_non_string_org_id_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        require_org_member(principal_with(ADMIN), 7)  # type: ignore[arg-type]


def test_an_uppercase_org_id_does_not_match() -> None:
    with pytest.raises(Forbidden):
        require_org_member(principal_with(ADMIN), ORG.upper())


# --- deliberate differences from PropelAuth: bad arguments raise ---------------------------


@pytest.mark.parametrize("check", ["exact", "minimum", "permission"])
@pytest.mark.parametrize(
    ("argument", "error"), [(None, TypeError), ("", ValueError), (1, TypeError)]
)
def test_a_none_or_empty_role_or_permission_raises(
    check: str, argument: object, error: type[Exception]
) -> None:
    # PropelAuth skips the check for None and lets the request through.
    with pytest.raises(error):
        CHECKS[check](principal_with(ADMIN), ORG, argument)
    # ...even for a caller who is not a member or not logged in: the bug is in the code.
    with pytest.raises(error):
        CHECKS[check](None, OTHER_ORG, argument)


@pytest.mark.parametrize(
    ("permissions", "error"),
    [
        ([], ValueError),  # PropelAuth: always passes
        ((), ValueError),
        (None, TypeError),
        ("read", TypeError),  # would be checked letter by letter
        (["read", None], TypeError),
        (["read", ""], ValueError),
        (iter(["read"]), TypeError),  # a one-shot iterator is not a collection
    ],
)
def test_a_bad_permission_list_raises(permissions: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        require_org_member_with_all_permissions(principal_with(ADMIN), ORG, permissions)  # type: ignore[arg-type]
    with pytest.raises(error):
        ADMIN.user_has_all_permissions(permissions)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["user_is_role", "user_is_at_least_role", "user_has_permission"])
def test_member_info_helpers_also_refuse_none(method: str) -> None:
    with pytest.raises(TypeError):
        getattr(ADMIN, method)(None)


def test_inherited_roles_default_to_the_role_itself() -> None:
    member = OrgMemberInfo(org_id=ORG, user_role="Member")
    assert member.inherited_user_roles_plus_current_role == ("Member",)
    assert require_org_member_with_minimum_role(principal_with(member), ORG, "Member") is member
