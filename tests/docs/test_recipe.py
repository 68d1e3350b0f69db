"""The README's testing recipe, run as a user's project would run it.

The recipe's files (`<!-- recipe: ... -->` blocks) go into a fresh directory
with `myapp` standing for the fixture app (its models and Alembic migrations),
and a pytest subprocess runs them through the plugin on this run's server
(`TENANTKIT_TEST_DATABASE_URL`), in pytest-asyncio's strict mode (the suite itself runs
in auto mode).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tenantkit.testing import RunningServer
from tests.docs.snippets import ROOT, recipe

MIGRATIONS = ROOT / "tests" / "tables" / "app" / "migrations"


def _project(tmp_path: Path) -> Path:
    files = recipe()
    assert set(files) == {"conftest.py", "test_tenancy.py"}, files
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "models.py").write_text(
        "from tests.tables.app.models import Base, Document  # noqa: F401\n"
    )
    (tmp_path / "alembic.ini").write_text(f"[alembic]\nscript_location = {MIGRATIONS}\n")
    return tmp_path


# Strict mode here; tenantkit's own suite runs the same async fixtures in auto mode
# (pyproject.toml), so both modes are covered without a second subprocess.
@pytest.mark.parametrize("mode", ["strict"])
def test_the_readme_testing_recipe_passes(
    tmp_path: Path, tenantkit_server: RunningServer, mode: str
) -> None:
    project = _project(tmp_path)
    (project / "pytest.ini").write_text(f"[pytest]\nasyncio_mode = {mode}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTKIT_TEST_")}
    env["TENANTKIT_TEST_DATABASE_URL"] = tenantkit_server.admin_url.render_as_string(
        hide_password=False
    )
    env["PYTHONPATH"] = os.pathsep.join([str(project), str(ROOT)])
    result = subprocess.run(  # this interpreter, fixed arguments
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir",
         str(project), str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "4 passed" in output, output
    assert "tenantkit: PostgreSQL at TENANTKIT_TEST_DATABASE_URL" in output, output
