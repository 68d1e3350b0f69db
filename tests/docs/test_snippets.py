"""The code blocks of the README and the docs site cannot rot.

- every ```python block compiles;
- every `tenantkit` name a block imports or reads (`from tenantkit.x import y`,
  `tenantkit.y`) exists;
- blocks marked `<!-- run: NAME -->` are executed, in order, in one namespace
  per NAME (the README's model declarations run: `tenant_table` checks them);
- the testing recipe (`<!-- recipe: ... -->`) runs as a project's tests
  (tests/docs/test_recipe.py).
"""

from __future__ import annotations

import ast
import importlib
import sys
import types
from collections import defaultdict
from typing import Any

import pytest

from tests.docs.snippets import Snippet, documents, snippets

pytestmark = pytest.mark.nodb

PYTHON = [s for path in documents() for s in snippets(path) if s.lang == "python"]
RUNS: dict[str, list[Snippet]] = defaultdict(list)
for _snippet in PYTHON:
    if _snippet.kind == "run":
        RUNS[_snippet.name].append(_snippet)


def test_the_documents_have_python_snippets() -> None:
    assert len(PYTHON) >= 15
    assert {"models", "pgbouncer"} <= set(RUNS)


@pytest.mark.parametrize("snippet", PYTHON, ids=lambda s: s.id)
def test_every_snippet_compiles(snippet: Snippet) -> None:
    compile(snippet.body, snippet.id, "exec")


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    obj: Any = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def _tenantkit_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tenantkit"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("tenantkit")}
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "tenantkit"
        ):
            names.add(f"tenantkit.{node.attr}")
    return names


@pytest.mark.parametrize("snippet", PYTHON, ids=lambda s: s.id)
def test_every_tenantkit_name_exists(snippet: Snippet) -> None:
    tree = ast.parse(snippet.body)
    for name in sorted(_tenantkit_names(tree)):
        _resolve(name)  # raises if the README names something that is not there


@pytest.mark.parametrize("name", sorted(RUNS))
def test_marked_snippets_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real module: SQLAlchemy resolves a model's annotations through sys.modules.
    module = types.ModuleType(f"tenantkit_snippet_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for snippet in RUNS[name]:
        exec(compile(snippet.body, snippet.id, "exec"), module.__dict__)  # noqa: S102  # our docs
