"""Org id extractors on their own: normalising, combining, agreeing."""

from __future__ import annotations

import pytest

from tenantkit.errors import InvalidField
from tenantkit.tokens import Principal
from tenantkit.web import active_org, header, org_from, path_param, query_param
from tenantkit.web._extractors import ROUTE_ORG, agree, normalise_org_id, sources_with_route
from tests.web._support import new_id

pytestmark = pytest.mark.nodb

A, B = new_id(), new_id()


class View:
    """A `RequestView` over plain values."""

    def __init__(self, path: str = "/", **values: str) -> None:
        self.path = path
        self.values = values

    def path_param(self, name: str) -> str | None:
        return self.values.get(f"path:{name}")

    def header(self, name: str) -> str | None:
        return self.values.get(f"header:{name}")

    def query_param(self, name: str) -> str | None:
        return self.values.get(f"query:{name}")


def test_normalise_takes_only_the_hyphenated_uuid_form() -> None:
    assert normalise_org_id(A.upper()) == A
    assert normalise_org_id(None) is None
    assert normalise_org_id("") is None
    for bad in ("{" + A + "}", A.replace("-", ""), "urn:uuid:" + A, A + " ", "x", "\x00"):
        with pytest.raises(InvalidField, match="must be a UUID"):
            normalise_org_id(bad)


def test_org_from_agreeing_sources() -> None:
    both = org_from(header(), path_param("/org/{org_id}"))
    assert both(View(f"/org/{A.upper()}", **{"header:x-org-id": A}), None) == A
    assert both(View("/other", **{"header:x-org-id": A}), None) == A  # one names it
    assert both(View("/other"), None) is None  # none does


def test_org_from_disagreeing_sources_is_400_naming_both() -> None:
    both = org_from(header(), query_param())
    with pytest.raises(InvalidField) as refused:
        both(View(**{"header:x-org-id": A, "query:org_id": B}), None)
    assert refused.value.fields == {
        "org_id": "header('x-org-id') and query_param('org_id') name different orgs"
    }
    assert A not in refused.value.message and B not in refused.value.message


def test_active_org_is_a_source_like_any_other() -> None:
    principal = Principal(A, active_org_id=A)
    combined = org_from(active_org(), path_param())
    assert combined(View(**{"path:org_id": A}), principal) == A
    with pytest.raises(InvalidField, match="active_org\\(\\) and path_param\\(\\)"):
        combined(View(**{"path:org_id": B}), principal)


def test_sources_with_route_always_adds_the_routed_org_id_once() -> None:
    assert sources_with_route(path_param()).sources == (ROUTE_ORG,)
    assert sources_with_route(header()).sources == (header(), ROUTE_ORG)
    nested = sources_with_route([org_from(header(), query_param()), path_param()])
    assert nested.sources == (header(), query_param(), ROUTE_ORG)
    with pytest.raises(TypeError):
        sources_with_route("X-Org-Id")  # type: ignore[arg-type]


def test_org_from_refuses_misconfiguration() -> None:
    with pytest.raises(ValueError, match="at least one"):
        org_from()
    with pytest.raises(TypeError):
        org_from("header")  # type: ignore[arg-type]


def test_an_apps_own_extractor_is_labelled_by_name() -> None:
    def tenant_from_subdomain(view: object, principal: object) -> str | None:
        return B

    combined = org_from(tenant_from_subdomain, header())
    with pytest.raises(InvalidField, match="tenant_from_subdomain\\(\\) and header"):
        combined(View(**{"header:x-org-id": A}), None)


def test_agree() -> None:
    assert agree([("a", None), ("b", A), ("c", A)]) == A
    assert agree([]) is None
    with pytest.raises(InvalidField, match="b and c name different orgs"):
        agree([("a", None), ("b", A), ("c", B)])
