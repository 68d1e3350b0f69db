"""Hostile strings for the backend API's property tests.

- `HOSTILE_FORMAT` / `HOSTILE_KEY`: schemathesis string formats (registered on
  import) whose values are either clean text or text carrying NUL, another
  control character or a lone surrogate;
- `hostile_schema`: the API's OpenAPI document with every request body string
  (fields, enums, UUID patterns, free-form JSON values and keys) switched to
  those formats, so schemathesis generates them everywhere in bodies;
  `hostile_parameter` draws path and query values the same way;
- `string_locations` / `RawRequest.with_value`: every string field of an
  operation, for a sweep that puts a fixed hostile value into each in turn;
- `RawRequest.send`: sends what clients would refuse to (lone surrogates as
  WTF-8 in paths and queries, `\\ud800` escapes in JSON).

Whether a value is hostile is decided here by Unicode category (Cc or Cs),
independently of the server's own rules.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.core import NotSet

HOSTILE_FORMAT: Final = "tenantkit-hostile"
# Free-form keys: schemathesis validates generated keys with a validator that
# cannot hold a lone surrogate, so these carry NUL and control characters only
# (the sweep puts surrogates into keys).
HOSTILE_KEY: Final = "tenantkit-hostile-key"
#: A free-form JSON object key, in `string_locations` paths.
KEY: Final = "<key>"

#: One of each kind, for the sweep.
SAMPLES: Final = {
    "nul": "a\x00b",
    "surrogate": "a\ud800b",
    "escape": "\x1b[2J",
    "c1": "a\x85b",
}

_FIXED_BAD = st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x1f", "\x7f", "\x85",
                              "\x9f", "\ud800", "\udbff", "\udc00", "\udfff"])
_ANY_BAD = st.characters(categories=["Cc", "Cs"]).filter(lambda c: c not in "\t\n\r")
_CLEAN_CHAR = st.characters(exclude_categories=["Cc", "Cs"])


def hostile_text(
    clean: st.SearchStrategy[str], *, surrogates: bool = True
) -> st.SearchStrategy[str]:
    """Clean text with at least one NUL, control character (or lone surrogate) in it."""
    bad = st.one_of(_FIXED_BAD, _ANY_BAD)
    if not surrogates:
        bad = bad.filter(lambda c: unicodedata.category(c) != "Cs")
    return st.tuples(clean, bad, clean).map("".join)


def is_hostile(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


_CLEAN_TEXT = st.text(_CLEAN_CHAR, max_size=8)
# A path segment must stay one segment, or the request goes to another route.
_CLEAN_SEGMENT = st.text(_CLEAN_CHAR.filter(lambda c: c not in "/%?#"), min_size=1, max_size=8
                         ).filter(lambda s: s not in (".", ".."))
schemathesis.openapi.format(HOSTILE_FORMAT, st.one_of(hostile_text(_CLEAN_TEXT), _CLEAN_TEXT))
schemathesis.openapi.format(HOSTILE_KEY,
                            st.one_of(hostile_text(_CLEAN_TEXT, surrogates=False), _CLEAN_TEXT))


# --- the schema, rewritten ------------------------------------------------------------


def _resolver(document: dict[str, Any]) -> Any:
    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            name = node["$ref"].removeprefix("#/components/schemas/")
            node = document["components"]["schemas"][name]
        return node

    return resolve


def _rewrite(node: dict[str, Any], resolve: Any, fmt: str) -> dict[str, Any]:
    node = resolve(node)
    text = {"type": "string", "format": fmt}
    if "anyOf" in node:
        return {"anyOf": [_rewrite(n, resolve, fmt) for n in node["anyOf"]]}
    kind = node.get("type")
    if kind == "string" or (kind is None and "enum" in node):
        return text
    if kind == "array":
        return {**node, "items": _rewrite(node.get("items", {}), resolve, fmt)}
    if kind == "object":
        out = {k: v for k, v in node.items() if k != "title"}
        if "properties" in node:
            out["properties"] = {
                name: _rewrite(child, resolve, fmt) for name, child in node["properties"].items()
            }
        if node.get("additionalProperties") in (True, {}):
            out["additionalProperties"] = text
            out["propertyNames"] = {"type": "string", "format": HOSTILE_KEY}
        return out
    if kind is None:  # any JSON value (a flag's `value`)
        return text
    return node  # integers, booleans, null


def hostile_schema(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every request body string in `HOSTILE_FORMAT`.

    Path and query parameters keep their schemas: schemathesis drops generated
    values it could not put into a URL, so `hostile_parameter` draws those.
    """
    out = copy.deepcopy(document)
    resolve = _resolver(document)
    for operations in out["paths"].values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                media["schema"] = _rewrite(media["schema"], resolve, HOSTILE_FORMAT)
    return out


def hostile_parameter(where: str, original: Any) -> st.SearchStrategy[Any]:
    """A path or query parameter's value: hostile text, or what schemathesis generated."""
    clean = _CLEAN_SEGMENT if where == "path" else _CLEAN_TEXT
    return st.one_of(hostile_text(clean), st.just(original))


# --- every string field of an operation -----------------------------------------------


Path = tuple[str | int, ...]


def _accepts_string(node: dict[str, Any], resolve: Any) -> bool:
    node = resolve(node)
    if "anyOf" in node:
        return any(_accepts_string(n, resolve) for n in node["anyOf"])
    return node.get("type") == "string" or "enum" in node or node.get("type") is None


def _body_paths(node: dict[str, Any], resolve: Any, path: Path, out: list[Path]) -> None:
    node = resolve(node)
    if "anyOf" in node:
        for branch in node["anyOf"]:
            _body_paths(branch, resolve, path, out)
        return
    kind = node.get("type")
    if kind == "string" or kind is None:
        if path not in out:
            out.append(path)
    elif kind == "array":
        _body_paths(node.get("items", {}), resolve, (*path, 0), out)
    elif kind == "object":
        for name, child in node.get("properties", {}).items():
            _body_paths(child, resolve, (*path, name), out)
        if node.get("additionalProperties") in (True, {}):
            for leaf in ((*path, "note"), (*path, "deep", 0, "note"), (*path, KEY)):
                if leaf not in out:
                    out.append(leaf)


def string_locations(document: dict[str, Any], method: str, path: str) -> list[tuple[str, Path]]:
    """Each string field of one operation: ("path" | "query", (name,)) or ("body", path)."""
    resolve = _resolver(document)
    operation = document["paths"][path][method.lower()]
    found: list[tuple[str, Path]] = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] in ("path", "query") and _accepts_string(parameter["schema"], resolve):
            found.append((parameter["in"], (parameter["name"],)))
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        paths: list[Path] = []
        _body_paths(body["schema"], resolve, (), paths)
        found += [("body", p) for p in paths]
    return found


def expected_field(where: str, path: Path) -> str:
    """The field the server must name for a hostile value at (where, path)."""
    if where == "path":
        return "path"
    if where == "query":
        return str(path[0])
    names: list[str] = []
    for part in path:
        if isinstance(part, int):
            continue
        if part == KEY:
            break
        names.append(part)
        if part in ("metadata", "properties", "value"):
            break  # free text: the path stops here
    return ".".join(names) or "body"


def _set(document: Any, path: Path, value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head == KEY:
        return {value: 1}
    if isinstance(head, int):
        items = list(document) if isinstance(document, list) and document else [None]
        items[0] = _set(items[0], rest, value)
        return items
    container = dict(document) if isinstance(document, dict) else {}
    container[head] = _set(container.get(head), rest, value)
    return container


# --- sending ----------------------------------------------------------------------------


def _raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _scalar(value: Any) -> str | bytes:
    if isinstance(value, str):
        return _raw(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_NOT_SET = object()


@dataclass(frozen=True)
class RawRequest:
    """One request of an operation, sent byte for byte as given."""

    method: str
    path: str
    path_parameters: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = _NOT_SET

    @classmethod
    def from_case(cls, case: schemathesis.Case[Any]) -> RawRequest:
        body = _NOT_SET if isinstance(case.body, NotSet) else case.body
        return cls(case.method, case.operation.path, dict(case.path_parameters or {}),
                   dict(case.query or {}), body)

    def with_value(self, where: str, path: Path, value: str) -> RawRequest:
        if where == "path":
            return replace(self, path_parameters={**self.path_parameters, str(path[0]): value})
        if where == "query":
            return replace(self, query={**self.query, str(path[0]): value})
        base = None if self.body is _NOT_SET else self.body
        return replace(self, body=_set(base, path, value))

    def strings(self) -> list[str]:
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                for key, child in value.items():
                    walk(key)
                    walk(child)
            elif isinstance(value, list):
                for child in value:
                    walk(child)

        walk(self.path_parameters)
        walk(self.query)
        if self.body is not _NOT_SET:
            walk(self.body)
        return found

    def is_hostile(self) -> bool:
        return any(is_hostile(s) for s in self.strings())

    def send(self, client: TestClient, headers: dict[str, str]) -> httpx.Response:
        url = self.path
        for name, value in self.path_parameters.items():
            url = url.replace(f"{{{name}}}", quote(_raw(str(value)), safe=""))
        pairs = [(k, _scalar(v)) for k, v in self.query.items() if v is not None]
        if pairs:
            url += "?" + urlencode(pairs)
        extra: dict[str, Any] = {}
        if self.body is not _NOT_SET:
            # ensure_ascii: a lone surrogate travels as its \\ud800 escape.
            extra["content"] = json.dumps(self.body).encode("ascii")
            headers = {**headers, "Content-Type": "application/json"}
        response: httpx.Response = client.request(self.method, url, headers=headers, **extra)
        return response
