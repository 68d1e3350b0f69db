"""Member info and tokens for tests: the role mapping's inheritance, the database's memberships.

Before: `OrgMemberInfo(org, "Admin")` had inherited roles ("Admin",) only, so that
Admin failed `minimum_role("Member")`; no helper minted a token from the database.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tenantkit import tokens
from tenantkit.orgs import Management
from tenantkit.testing import DEFAULT_ROLE_MAPPING, OrgMemberInfo, TwoOrgs
from tenantkit.tokens import TokenVerifier

ORG = "00000000-0000-4000-8000-000000000001"


@pytest.mark.nodb
def test_an_admin_inherits_member() -> None:
    admin = OrgMemberInfo(ORG, "Admin")
    assert isinstance(admin, tokens.OrgMemberInfo)
    assert admin.inherited_user_roles_plus_current_role == ("Admin", "Member")
    assert admin.user_is_at_least_role("Member")
    assert not admin.user_is_at_least_role("Owner")
    assert admin.user_has_permission("tenantkit::can_invite")
    assert not admin.user_has_permission("tenantkit::can_delete_org")
    assert OrgMemberInfo(ORG, "Member").inherited_user_roles_plus_current_role == ("Member",)
    # The token layer's own class states only what it is given.
    assert not tokens.OrgMemberInfo(ORG, "Admin").user_is_at_least_role("Member")


@pytest.mark.nodb
def test_explicit_fields_win() -> None:
    info = OrgMemberInfo(ORG, "Admin", user_permissions=("x",), org_name="Acme")
    assert info.user_permissions == ("x",)
    assert info.org_name == "Acme"


def test_the_default_mapping_is_the_migrated_one(service_engine: sa.Engine) -> None:
    with service_engine.begin() as conn:
        mappings = Management(conn).role_mappings.list()
    [default] = [m for m in mappings if m.is_default]
    assert [(r.name, r.rank, set(r.permissions)) for r in default.roles] == [
        (r.name, r.rank, set(r.permissions)) for r in DEFAULT_ROLE_MAPPING.roles
    ]


def test_mint_token_states_the_current_memberships(
    make_seed: Callable[[], TwoOrgs],
    mint_token: Callable[..., str],
    token_verifier: TokenVerifier,
    service_engine: sa.Engine,
) -> None:
    orgs = make_seed()
    principal = token_verifier.verify(mint_token(orgs.a.admin_id))
    member = principal.get_org(orgs.a.org_id)
    assert member is not None and member.user_is_at_least_role("Member")
    assert principal.get_org(orgs.b.org_id) is None  # another org's: not in the token
    with service_engine.begin() as conn:
        Management(conn).members.remove(orgs.a.org_id, orgs.a.admin_id)
    after = token_verifier.verify(mint_token(orgs.a.admin_id))
    assert after.get_org(orgs.a.org_id) is None
