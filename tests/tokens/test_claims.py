"""Claim adapters: PropelAuth's two org shapes and WorkOS's one-org shape become a Principal."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tenantkit.errors import Unauthorized
from tenantkit.tokens import (
    MULTI_ROLE,
    SINGLE_ROLE_IN_HIERARCHY,
    LoginMethod,
    PropelAuthClaims,
    WorkOSClaims,
)

from ._helpers import ORG, OTHER_ORG, USER, org_entry, propelauth_claims

pytestmark = pytest.mark.nodb

WORKOS_USER = "user_01HBEQKA6K4QJAS93VPE39W1JT"
WORKOS_ORG = "org_01HRDMC6CM357W30QMHMQ96Q0S"


def malformed(adapter: PropelAuthClaims | WorkOSClaims, claims: dict[str, Any]) -> str:
    with pytest.raises(Unauthorized) as caught:
        adapter.to_principal(claims)
    return caught.value.message


# --- PropelAuth ----------------------------------------------------------------------------


def test_propelauth_org_map_becomes_memberships() -> None:
    claims = propelauth_claims(
        org_id_to_org_member_info={
            ORG: org_entry(),
            OTHER_ORG: org_entry(OTHER_ORG, user_role="Member", legacy_org_id="legacy-7"),
        },
        first_name="Ada",
        properties={"plan": "pro"},
        legacy_user_id="u-1",
    )
    principal = PropelAuthClaims().to_principal(claims)
    assert principal.user_id == USER
    assert principal.email == "ada@example.com"
    assert principal.first_name == "Ada"
    assert principal.properties == {"plan": "pro"}
    assert principal.legacy_user_id == "u-1"
    assert principal.active_org_id is None
    assert principal.get_active_org() is None
    assert {org.org_id for org in principal.get_orgs()} == {ORG, OTHER_ORG}
    acme = principal.get_org(ORG)
    assert acme is not None
    assert acme.org_name == "Acme Inc"
    assert acme.url_safe_org_name == "acme-inc"
    assert acme.org_metadata == {"tier": "enterprise"}
    assert acme.user_role == "Admin"
    assert acme.inherited_user_roles_plus_current_role == ("Admin", "Member")
    assert acme.user_permissions == ("read", "write")
    assert acme.org_role_structure == SINGLE_ROLE_IN_HIERARCHY
    assert acme.additional_roles == ()
    assert principal.get_org(OTHER_ORG).legacy_org_id == "legacy-7"  # type: ignore[union-attr]
    assert principal.claims["iss"] == claims["iss"]


def test_the_active_org_shape_wins_over_the_org_map() -> None:
    claims = propelauth_claims(org_member_info=org_entry(OTHER_ORG, user_role="Owner"))
    principal = PropelAuthClaims().to_principal(claims)
    assert principal.active_org_id == OTHER_ORG
    assert list(principal.org_id_to_org_member_info) == [OTHER_ORG]
    assert principal.get_active_org().user_role == "Owner"  # type: ignore[union-attr]
    assert principal.get_org(ORG) is None


@pytest.mark.parametrize("empty", [None, {}])
def test_an_empty_active_org_falls_back_to_the_map(empty: object) -> None:
    principal = PropelAuthClaims().to_principal(propelauth_claims(org_member_info=empty))
    assert principal.active_org_id is None
    assert principal.get_org(ORG) is not None


def test_a_user_without_orgs() -> None:
    claims = propelauth_claims()
    del claims["org_id_to_org_member_info"]
    assert PropelAuthClaims().to_principal(claims).get_orgs() == []


def test_an_entry_with_a_null_role_is_dropped_like_propelauth() -> None:
    claims = propelauth_claims(
        org_id_to_org_member_info={ORG: org_entry(user_role=None), OTHER_ORG: org_entry(OTHER_ORG)}
    )
    principal = PropelAuthClaims().to_principal(claims)
    assert principal.get_org(ORG) is None
    assert principal.get_org(OTHER_ORG) is not None


def test_a_map_key_that_differs_from_its_org_id_is_refused() -> None:
    claims = propelauth_claims(org_id_to_org_member_info={OTHER_ORG: org_entry(ORG)})
    assert malformed(PropelAuthClaims(), claims) == (
        "token claim 'org_id_to_org_member_info' is malformed"
    )


@pytest.mark.parametrize(
    "field",
    [
        "org_name",
        "url_safe_org_name",
        "org_metadata",
        "user_role",
        "inherited_user_roles_plus_current_role",
        "user_permissions",
    ],
)
def test_a_missing_required_org_field_is_refused(field: str) -> None:
    entry = org_entry()
    del entry[field]
    claims = propelauth_claims(org_id_to_org_member_info={ORG: entry})
    message = malformed(PropelAuthClaims(), claims)
    assert message == f"token claim 'org_id_to_org_member_info.{field}' is missing"


def test_optional_org_fields_default_like_propelauth() -> None:
    entry = org_entry()
    for optional in ("org_role_structure", "additional_roles", "legacy_org_id"):
        del entry[optional]
    org = PropelAuthClaims().to_principal(propelauth_claims(org_id_to_org_member_info={ORG: entry}))
    member = org.get_org(ORG)
    assert member is not None
    assert member.org_role_structure == SINGLE_ROLE_IN_HIERARCHY
    assert member.additional_roles == ()
    assert member.legacy_org_id is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_role", 7),
        ("user_role", ""),
        ("user_role", ["Admin"]),
        ("inherited_user_roles_plus_current_role", "Admin"),
        ("inherited_user_roles_plus_current_role", ["Admin", 1]),
        ("user_permissions", {"read": True}),
        ("user_permissions", [None]),
        ("additional_roles", "Billing"),
        ("org_metadata", ["tier"]),
        ("org_name", 5),
        ("org_role_structure", "flat"),
        ("legacy_org_id", 12),
    ],
)
def test_a_mistyped_org_field_is_refused(field: str, value: object) -> None:
    claims = propelauth_claims(org_id_to_org_member_info={ORG: org_entry(**{field: value})})
    assert malformed(PropelAuthClaims(), claims) == (
        f"token claim 'org_id_to_org_member_info.{field}' is malformed"
    )


@pytest.mark.parametrize("value", ["x", ["x"], 3, True])
def test_a_mistyped_org_map_is_refused(value: object) -> None:
    claims = propelauth_claims(org_id_to_org_member_info=value)
    assert "org_id_to_org_member_info" in malformed(PropelAuthClaims(), claims)


@pytest.mark.parametrize(
    "field", ["email", "first_name", "last_name", "username", "legacy_user_id"]
)
def test_mistyped_user_fields_are_refused(field: str) -> None:
    assert malformed(PropelAuthClaims(), propelauth_claims(**{field: 42})) == (
        f"token claim {field!r} is malformed"
    )


def test_mistyped_properties_are_refused() -> None:
    message = malformed(PropelAuthClaims(), propelauth_claims(properties=["plan"]))
    assert message == "token claim 'properties' is malformed"


def test_a_missing_user_id_is_refused() -> None:
    claims = propelauth_claims()
    del claims["user_id"]
    assert malformed(PropelAuthClaims(), claims) == "token claim 'user_id' is missing"


def test_login_method_and_impersonation() -> None:
    impersonator = "8f14e45f-ceea-467f-a0e6-3bd1b4c7a2d9"
    claims = propelauth_claims(
        login_method={"login_method": "saml_sso", "provider": "Okta", "org_id": ORG},
        impersonator_user_id=impersonator,
    )
    principal = PropelAuthClaims().to_principal(claims)
    assert principal.login_method == LoginMethod("saml_sso", "Okta", ORG)
    assert principal.impersonator_user_id == impersonator
    assert principal.is_impersonated()


def test_no_login_method_and_not_impersonated() -> None:
    principal = PropelAuthClaims().to_principal(propelauth_claims())
    assert principal.login_method is None
    assert not principal.is_impersonated()


def test_an_unknown_login_method_is_kept() -> None:
    claims = propelauth_claims(login_method={"login_method": "passkey"})
    login = PropelAuthClaims().to_principal(claims).login_method
    assert login == LoginMethod("passkey")


@pytest.mark.parametrize(
    "value",
    [
        "password",
        {"provider": "Okta"},
        {"login_method": 1},
        {"login_method": "saml_sso", "org_id": "1"},
    ],
)
def test_a_malformed_login_method_is_refused(value: object) -> None:
    assert "login_method" in malformed(PropelAuthClaims(), propelauth_claims(login_method=value))


def test_a_malformed_impersonator_is_refused() -> None:
    message = malformed(PropelAuthClaims(), propelauth_claims(impersonator_user_id="admin"))
    assert message == "token claim 'impersonator_user_id' is malformed"


def test_another_id_format_can_be_configured() -> None:
    adapter = PropelAuthClaims(id_pattern=re.compile(r"[0-9]+"))
    claims = propelauth_claims(user_id="42", org_id_to_org_member_info={"7": org_entry("7")})
    principal = adapter.to_principal(claims)
    assert principal.user_id == "42"
    assert principal.get_org("7") is not None
    # fullmatch, not match: a valid prefix does not make a valid id
    assert "'user_id'" in malformed(adapter, propelauth_claims(user_id="42x"))


def test_principal_mappings_are_read_only() -> None:
    principal = PropelAuthClaims().to_principal(propelauth_claims())
    with pytest.raises(TypeError):
        principal.org_id_to_org_member_info["x"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        principal.claims["user_id"] = "someone-else"  # type: ignore[index]
    with pytest.raises(AttributeError):
        principal.user_id = "someone-else"  # type: ignore[misc]


# --- WorkOS --------------------------------------------------------------------------------


def workos_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "https://api.workos.com",
        "sub": WORKOS_USER,
        "sid": "session_01HQSXZGF8FHF7A9ZZFCW4387R",
        "jti": "01HQSXZXPPFPKMDD32RKTFY6PV",
        "org_id": WORKOS_ORG,
        "role": "admin",
        "roles": ["admin"],
        "permissions": ["posts:read", "posts:write"],
        "entitlements": ["audit-logs"],
        "exp": 1709193857,
        "iat": 1709193557,
    }
    claims.update(overrides)
    return claims


def test_workos_with_a_hierarchy_ranks_roles() -> None:
    adapter = WorkOSClaims(role_hierarchy=["owner", "admin", "member"])
    principal = adapter.to_principal(workos_claims())
    assert principal.user_id == WORKOS_USER
    assert principal.active_org_id == WORKOS_ORG
    org = principal.get_active_org()
    assert org is not None
    assert org.org_role_structure == SINGLE_ROLE_IN_HIERARCHY
    assert org.user_role == "admin"
    assert org.inherited_user_roles_plus_current_role == ("admin", "member")
    assert org.user_permissions == ("posts:read", "posts:write")
    assert org.user_is_at_least_role("member")
    assert not org.user_is_at_least_role("owner")
    assert principal.claims["entitlements"] == ["audit-logs"]


def test_workos_several_roles_imply_from_the_highest() -> None:
    adapter = WorkOSClaims(role_hierarchy=["owner", "admin", "member"])
    org = adapter.to_principal(workos_claims(role="admin", roles=["member", "admin", "billing"]))
    member = org.get_org(WORKOS_ORG)
    assert member is not None
    assert member.inherited_user_roles_plus_current_role == ("admin", "member", "billing")
    assert member.additional_roles == ("member", "billing")


def test_workos_a_role_outside_the_hierarchy_implies_only_itself() -> None:
    adapter = WorkOSClaims(role_hierarchy=["owner", "admin", "member"])
    org = adapter.to_principal(workos_claims(role="auditor", roles=["auditor"]))
    member = org.get_org(WORKOS_ORG)
    assert member is not None
    assert member.inherited_user_roles_plus_current_role == ("auditor",)
    assert not member.user_is_at_least_role("member")


def test_workos_without_a_hierarchy_is_multi_role() -> None:
    org = WorkOSClaims().to_principal(workos_claims(roles=["admin", "billing"]))
    member = org.get_org(WORKOS_ORG)
    assert member is not None
    assert member.org_role_structure == MULTI_ROLE
    assert member.user_is_role("billing")
    assert member.user_is_at_least_role("admin")
    assert not member.user_is_at_least_role("member")  # nothing is implied


def test_workos_without_an_org() -> None:
    claims = workos_claims()
    for name in ("org_id", "role", "roles", "permissions"):
        del claims[name]
    principal = WorkOSClaims().to_principal(claims)
    assert principal.get_orgs() == []
    assert principal.active_org_id is None


def test_workos_an_org_without_a_role_is_refused() -> None:
    claims = workos_claims()
    del claims["role"]
    assert malformed(WorkOSClaims(), claims) == "token claim 'role' is missing"


@pytest.mark.parametrize(
    ("name", "value"),
    [("roles", "admin"), ("roles", [1]), ("permissions", "posts:read"), ("role", 3)],
)
def test_workos_mistyped_role_claims_are_refused(name: str, value: object) -> None:
    assert malformed(WorkOSClaims(), workos_claims(**{name: value})) == (
        f"token claim {name!r} is malformed"
    )


@pytest.mark.parametrize(
    "org_id",
    [1, "01", [WORKOS_ORG], {"id": WORKOS_ORG}, WORKOS_ORG + "\x00", WORKOS_ORG.lower(), ORG],
    ids=["int", "01", "list", "dict", "nul-byte", "lowercase", "uuid"],
)
def test_workos_bad_org_ids_are_refused(org_id: object) -> None:
    assert malformed(WorkOSClaims(), workos_claims(org_id=org_id)) == (
        "token claim 'org_id' is malformed"
    )


@pytest.mark.parametrize("sub", [123, None, ["u"], "user_x"])
def test_workos_bad_sub_is_refused(sub: object) -> None:
    assert "'sub'" in malformed(WorkOSClaims(), workos_claims(sub=sub))


def test_workos_impersonation() -> None:
    principal = WorkOSClaims().to_principal(workos_claims(act={"sub": "admin@foocorp.com"}))
    assert principal.is_impersonated()
    assert principal.login_method == LoginMethod("impersonation")
    assert malformed(WorkOSClaims(), workos_claims(act="admin")) == "token claim 'act' is malformed"


@pytest.mark.parametrize("hierarchy", ["admin", [], ["admin", "admin"], ["admin", ""]])
def test_a_bad_hierarchy_is_refused(hierarchy: Any) -> None:
    with pytest.raises(ValueError, match="role_hierarchy"):
        WorkOSClaims(role_hierarchy=hierarchy)


# --- any JSON type anywhere: accepted or Unauthorized, never another exception -------------

JSON_VALUES: list[object] = [None, 0, 1, 1.5, True, "", "x", ORG, [], ["x"], [1], {}, {"a": 1}]


def _variants(claims: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every claim, nested fields included, replaced by every kind of JSON value."""
    variants = []
    for name in list(claims):
        for value in JSON_VALUES:
            variants.append((name, {**claims, name: value}))
        nested = claims[name]
        if isinstance(nested, dict):
            inner = next(iter(nested.values())) if name == "org_id_to_org_member_info" else nested
            for field in list(inner):
                for value in JSON_VALUES:
                    changed = {**inner, field: value}
                    replacement = {ORG: changed} if inner is not nested else changed
                    variants.append((f"{name}.{field}", {**claims, name: replacement}))
    return variants


PROPELAUTH_FULL = propelauth_claims(
    login_method={"login_method": "saml_sso", "provider": "Okta", "org_id": ORG},
    properties={"plan": "pro"},
    org_member_info=org_entry(OTHER_ORG),
)


@pytest.mark.parametrize(
    ("adapter", "claims"),
    [
        (PropelAuthClaims(), PROPELAUTH_FULL),
        (PropelAuthClaims(), propelauth_claims()),
        (WorkOSClaims(role_hierarchy=["admin", "member"]), workos_claims(act={"sub": "a@b.c"})),
        (WorkOSClaims(), workos_claims()),
    ],
    ids=["propelauth-active", "propelauth-map", "workos-hierarchy", "workos-flat"],
)
def test_any_json_type_in_any_claim_is_accepted_or_unauthorized(
    adapter: PropelAuthClaims | WorkOSClaims, claims: dict[str, Any]
) -> None:
    for where, variant in _variants(claims):
        try:
            adapter.to_principal(variant)
        except Unauthorized:
            pass
        except Exception as exc:  # pragma: no cover - the failure message says where
            pytest.fail(f"{where}: {type(exc).__name__}: {exc}")
