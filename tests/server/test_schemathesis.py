"""Property-based checks of the API against its own OpenAPI document (schemathesis).

One test per operation, positive and negative data, a few examples each, so the
whole run stays within seconds. Checked: no 5xx, every status is documented,
and every body matches its documented schema. (schemathesis's own pytest
plugin is not used: it does not run under this pytest.)
"""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenantkit.server import create_app

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 8

# The operations, read from an app that never connects: only its schema is used here.
_OFFLINE = create_app(sqlalchemy.create_engine("postgresql+psycopg://nobody@localhost/none"))
LABELS = sorted(f"{method.upper()} {path}"
                for path, ops in _OFFLINE.openapi()["paths"].items() for method in ops)


@pytest.fixture(scope="session")
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
@pytest.mark.parametrize("label", LABELS)
def test_operation_conforms_to_its_openapi(
    api_schema: schemathesis.BaseSchema, integration_key: str, label: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None
    headers = {"Authorization": f"Bearer {integration_key}"}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
