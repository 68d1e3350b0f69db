"""The token modules stay light: no database driver, ORM or web framework is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.nodb

HEAVY = ("sqlalchemy", "psycopg", "alembic", "fastapi", "starlette", "flask", "tenantkit.db")

# The package __init__ re-exports the database API, so it is bypassed here: this
# checks what the token modules themselves pull in (architecture.md §2: tokens never
# imports db).
PROBE = f"""
import importlib.util, sys, types
spec = importlib.util.find_spec("tenantkit")
package = types.ModuleType("tenantkit")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["tenantkit"] = package
import tenantkit.tokens, tenantkit.authz, tenantkit.issuer, tenantkit.keys_cli
heavy = {HEAVY!r}
print(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy))
"""


def test_token_modules_import_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
