"""Property-based checks of the API against its own OpenAPI document (schemathesis).

One test per operation and mode, a few examples each, so the whole run stays
within seconds. Checked: no 5xx, every status is documented, and every body
matches its documented schema. (schemathesis's own pytest plugin is not used:
it does not run under this pytest.) Modes:
- positive and negative: schemathesis's own data;
- hostile: the same operations generated from `_hostile.hostile_schema`, where
  every request body string (fields, enums, UUIDs, free-form JSON keys and
  values) is clean text or text carrying NUL, a control character or a lone
  surrogate, and path and query strings are drawn the same way; a request
  carrying any of those must be a 400.
A sweep then puts one hostile value of each kind into every string field of
every operation in turn (400, naming the field), and the same sweep against the
app without its guard shows what the guard stops: 500s and stored control characters.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
import sqlalchemy
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from tenantkit.server import create_app
from tenantkit.server.guard import RequestGuard
from tests.server._hostile import (
    SAMPLES,
    RawRequest,
    expected_field,
    hostile_parameter,
    hostile_schema,
    string_locations,
)

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 8
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))

# The operations, read from an app that never connects: only its schema is used here.
_OFFLINE = create_app(sqlalchemy.create_engine("postgresql+psycopg://nobody@localhost/none"))
DOCUMENT = _OFFLINE.openapi()
LABELS = sorted(f"{method.upper()} {path}"
                for path, ops in DOCUMENT["paths"].items() for method in ops)


@pytest.fixture(scope="session")
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="session")
def hostile_api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(hostile_schema(app.openapi()))
    schema.app = app
    return schema


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

    @_SETTINGS
    @given(case=operation.as_strategy(mode))
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("label", LABELS)
def test_operation_answers_hostile_strings_with_400(
    hostile_api_schema: schemathesis.BaseSchema, api_schema: schemathesis.BaseSchema,
    app: FastAPI, integration_key: str, label: str,
) -> None:
    operation = hostile_api_schema.find_operation_by_label(label)
    documented = api_schema.find_operation_by_label(label)
    assert operation is not None and documented is not None
    client = TestClient(app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {integration_key}"}
    seen = Counter[bool]()
    method, path = label.split(" ", 1)
    parameters = [(w, p) for w, p in string_locations(DOCUMENT, method, path) if w != "body"]

    @_SETTINGS
    @given(case=operation.as_strategy(GenerationMode.POSITIVE), data=st.data())
    def run(case: schemathesis.Case[Any], data: st.DataObject) -> None:
        request = RawRequest.from_case(case)
        for where, location in parameters:
            given_value = (request.path_parameters if where == "path" else request.query).get(
                str(location[0]))
            value = data.draw(hostile_parameter(where, given_value))
            if value is not None:
                request = request.with_value(where, location, value)
        response = request.send(client, headers)
        # Checked against the real document (the hostile one only shaped the data).
        documented.Case(method=case.method, path_parameters=case.path_parameters,
                        query=case.query, body=case.body,
                        media_type=case.media_type).validate_response(response, checks=CHECKS)
        seen[request.is_hostile()] += 1
        if request.is_hostile():
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_field"

    run()
    if string_locations(DOCUMENT, *label.split(" ", 1)):
        assert seen[True] > 0, "no hostile request was generated"


# --- the sweep: each hostile kind in each string field ------------------------------------


def _base(schema: schemathesis.BaseSchema, label: str) -> RawRequest:
    """One valid request of an operation: the first that schemathesis generates (no shrinking)."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None
    found: list[RawRequest] = []

    @settings(max_examples=1, phases=[Phase.generate], deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def first(case: schemathesis.Case[Any]) -> None:
        found.append(RawRequest.from_case(case))

    first()
    return found[0]


SWEPT = [(label, where, path) for label in LABELS
         for where, path in string_locations(DOCUMENT, *label.split(" ", 1))]


def _sweep(client: TestClient, schema: schemathesis.BaseSchema, key: str,
           label: str) -> list[tuple[str, str, Any, int, dict[str, Any]]]:
    """(sample, where, path, status, body) for every sample in every string field of `label`."""
    base = _base(schema, label)
    headers = {"Authorization": f"Bearer {key}"}
    results = []
    method, path = label.split(" ", 1)
    for where, location in string_locations(DOCUMENT, method, path):
        for name, sample in SAMPLES.items():
            response = base.with_value(where, location, sample).send(client, headers)
            body = response.json() if response.headers.get("content-type", "").startswith(
                "application/json") else {}
            results.append((name, where, location, response.status_code, body))
    return results


@pytest.mark.parametrize("label", sorted({label for label, _w, _p in SWEPT}))
def test_every_string_field_refuses_each_hostile_kind(
    api_schema: schemathesis.BaseSchema, app: FastAPI, integration_key: str, label: str,
) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    for name, where, location, status, body in _sweep(client, api_schema, integration_key,
                                                      label):
        context = (name, where, location, body)
        assert status == 400, context
        assert body["error"] == "invalid_field", context
        assert list(body["fields"]) == [expected_field(where, location)], context


def test_sweep_covers_every_kind_of_location() -> None:
    kinds = Counter(where for _label, where, _path in SWEPT)
    assert kinds["path"] >= 10 and kinds["query"] >= 10 and kinds["body"] >= 40, kinds
    free_form = [p for _label, where, p in SWEPT if where == "body" and "metadata" in p]
    assert free_form, "the sweep must reach free-form JSON"


def test_without_the_guard_hostile_strings_get_through(
    api_engine: Engine, api_schema: schemathesis.BaseSchema, integration_key: str,
) -> None:
    # The protection switched off: the same app, its RequestGuard removed.
    bare = create_app(api_engine)
    bare.user_middleware = [m for m in bare.user_middleware
                          if m.cls is not RequestGuard]  # type: ignore[comparison-overlap]
    client = TestClient(bare, raise_server_exceptions=False)
    statuses: Counter[int] = Counter()
    for label in ("POST /api/backend/v1/org/", "POST /api/backend/v1/end_user_api_keys/validate",
                  "POST /api/backend/v1/custom_role_mappings"):
        statuses.update(status for *_rest, status, _body in _sweep(client, api_schema,
                                                                   integration_key, label))
    # Control characters are stored (the key check itself now refuses non-ASCII
    # secrets on its own, so the surrogate no longer crashes it).
    assert statuses[200] + statuses[201] > 0, statuses
    big = client.post("/api/backend/v1/org/query", content=b'{"page_size": 1}' + b" " * (2 << 20),
                      headers={"Authorization": f"Bearer {integration_key}",
                               "Content-Type": "application/json"})
    assert big.status_code == 200  # and a 2 MiB body is read whole


def test_hostile_formats_are_registered() -> None:
    from schemathesis.specs.openapi.formats import STRING_FORMATS

    from tests.server._hostile import HOSTILE_FORMAT, HOSTILE_KEY

    assert HOSTILE_FORMAT in STRING_FORMATS and HOSTILE_KEY in STRING_FORMATS
