"""Property-based checks of the end-user API against its own OpenAPI document.

One test per operation and mode, a few examples each (the run stays within
seconds), as the backend API's own schemathesis test does: no 5xx, every status
documented, every body matching its schema. Requests carry a real end user's
token (the Owner of a seeded org), so they reach the database.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import sqlalchemy
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenantkit.selfservice import create_app
from tenantkit.testing import TwoOrgs
from tenantkit.tokens import TokenIssuer, TokenVerifier

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
_SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))

_OFFLINE = create_app(TokenVerifier.for_issuer(TokenIssuer.generate()),
                      sqlalchemy.create_engine("postgresql+psycopg://nobody@localhost/none"))
LABELS = sorted(f"{method.upper()} {path}"
                for path, ops in _OFFLINE.openapi()["paths"].items() for method in ops)


@pytest.fixture(scope="module")
def seeded(make_seed: Any) -> TwoOrgs:
    orgs: TwoOrgs = make_seed()
    return orgs


@pytest.fixture(scope="module")
def api_schema(selfservice_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", selfservice_app)


def test_the_document_has_every_operation() -> None:
    assert len(LABELS) >= 20
    for operation in (op for ops in _OFFLINE.openapi()["paths"].values() for op in ops.values()):
        assert "422" not in operation["responses"]
        assert {"400", "401", "403", "404"} <= set(operation["responses"])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
@pytest.mark.parametrize("label", LABELS)
def test_operation_conforms_to_its_openapi(
    api_schema: schemathesis.BaseSchema, token_issuer: TokenIssuer, seeded: TwoOrgs,
    label: str, mode: GenerationMode,
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None
    token = token_issuer.issue(user_id=seeded.a.owner_id)
    headers = {"Authorization": f"Bearer {token}"}

    @_SETTINGS
    @given(case=operation.as_strategy(mode))
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # e.g. GET /orgs in negative mode: no parameter or body to get wrong
        assert mode is GenerationMode.NEGATIVE
        pytest.skip("the operation takes no input to negate")
