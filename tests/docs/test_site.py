"""The docs site builds with warnings as errors (what `make docs` runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.snippets import ROOT

pytestmark = pytest.mark.nodb


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    done = subprocess.run(  # this interpreter, fixed arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    api = (tmp_path / "reference" / "api" / "index.html").read_text()
    assert "check_engine" in api and "tenant_table" in api
    testing = (tmp_path / "how-to" / "testing" / "index.html").read_text()
    assert "alembic_migrations" in testing  # the README's section, included
