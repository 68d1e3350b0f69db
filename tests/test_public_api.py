"""The public face is what the README uses: core names from `tenantkit`, integrations
from their own submodules, and nothing the README shows from anywhere else."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tenantkit

pytestmark = pytest.mark.nodb

README = Path(__file__).resolve().parents[1] / "README.md"
#: Where a user imports from: the core, and each integration's own module.
PUBLIC = {
    "tenantkit",
    "tenantkit.alembic",
    "tenantkit.events",
    "tenantkit.identity",
    "tenantkit.identity.webhooks",
    "tenantkit.identity.webhooks.fastapi",
    "tenantkit.orgs",
    "tenantkit.schema",
    "tenantkit.selfservice",
    "tenantkit.server",
    "tenantkit.testing",
    "tenantkit.web",
    "tenantkit.web.fastapi",
    "tenantkit.web.flask",
}


def _readme_imports() -> list[tuple[str, str | None]]:
    """(module, name) of every tenantkit import in the README's Python blocks."""
    found: list[tuple[str, str | None]] = []
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for node in ast.parse(_imports_only(block)).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tenantkit"):
                found += [(str(node.module), alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(a.name, None) for a in node.names if a.name.startswith("tenantkit")]
    return found


def _imports_only(block: str) -> str:
    """The block's import statements alone (the rest is illustration, not runnable)."""
    statements = re.findall(
        r"^(?:from [\w.]+ import (?:\([^)]*\)|[^\n]*)|import [^\n]*)", block, flags=re.M
    )
    return "\n".join(re.sub(r"#[^\n]*", "", s) for s in statements)


README_IMPORTS = _readme_imports()


def test_the_readme_imports_only_from_the_public_face() -> None:
    assert README_IMPORTS, "no imports found in the README"
    assert {module for module, _ in README_IMPORTS} <= PUBLIC


@pytest.mark.parametrize(("module", "name"), README_IMPORTS, ids=lambda x: str(x))
def test_every_name_the_readme_imports_exists(module: str, name: str | None) -> None:
    imported = importlib.import_module(module)
    if name is not None:
        assert hasattr(imported, name), f"{module}.{name}"


def test_every_core_name_resolves() -> None:
    for name in tenantkit.__all__:
        assert getattr(tenantkit, name) is not None, name
    with pytest.raises(AttributeError):
        _ = tenantkit.no_such_name  # type: ignore[attr-defined]


def test_importing_the_core_stays_light() -> None:
    probe = "import sys, tenantkit; print(sorted(m for m in ('sqlalchemy', 'psycopg', 'jwt') " \
            "if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
