"""The token modules stay light: no database driver, ORM or web framework is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.nodb

HEAVY = ("sqlalchemy", "psycopg", "alembic", "fastapi", "starlette", "flask", "tenantkit.db")

# Through the real package __init__, which re-exports the database API lazily:
# importing tokens must not pull it in (architecture.md §2: tokens never imports db).
PROBE = f"""
import sys
import tenantkit, tenantkit.tokens, tenantkit.authz, tenantkit.tokens.issuer, tenantkit.tokens.cli
heavy = {HEAVY!r}
print(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy))
"""


def test_token_modules_import_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
