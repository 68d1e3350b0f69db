"""A wheel built from the repo carries migrations/ and sql/, and migrates a database."""

from __future__ import annotations

import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantkit.testing import RunningServer, provision_database

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("tenantkit-*.whl")
    return built


def test_wheel_contains_migrations_and_sql(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tenantkit/_migrations/env.py" in names
    assert "tenantkit/_migrations/versions/0001_core.py" in names
    assert "tenantkit/_sql/0001_tables.sql" in names
    assert "tenantkit/_sql/install.sql" in names
    assert "tenantkit/_sql/runtime/bind.sql" in names
    assert "tenantkit/py.typed" in names
    # The demo's app, as package data (`tenantkit demo` from a wheel).
    assert "tenantkit/_demo/examples/__init__.py" in names
    assert "tenantkit/_demo/examples/notes/app.py" in names
    assert "tenantkit/_demo/examples/notes/migrations/env.py" in names


def _install(wheel: Path, tmp_path: Path) -> Path:
    """A venv with only tenantkit from the wheel (its dependencies from this environment)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    # The dependencies come from this environment's site-packages; tenantkit itself
    # only from the wheel (a .pth-added directory has its own .pth files ignored,
    # so this checkout's editable install stays out).
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    where = subprocess.run(
        [str(python), "-c", "import tenantkit, sys; print(tenantkit.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(str(venv)), where
    return venv


def test_wheel_installs_and_migrates(
    wheel: Path, tmp_path: Path, tenantkit_server: RunningServer
) -> None:
    venv = _install(wheel, tmp_path)
    db = provision_database(tenantkit_server)
    try:
        url = db.url("owner").render_as_string(hide_password=False)
        done = subprocess.run(
            [
                str(venv / "bin" / "tenantkit"),
                "migrate",
                "--database-url",
                url,
                "--app-role",
                db.roles.app,
                "--service-role",
                db.roles.service,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(db.url("service"), poolclass=sa.NullPool)
        with engine.connect() as conn:
            roles = conn.execute(
                sa.text("SELECT name FROM tenantkit.roles ORDER BY rank")
            ).scalars()
            assert list(roles) == ["Owner", "Admin", "Member"]
        engine.dispose()
    finally:
        db.drop()


def test_the_demo_runs_from_the_wheel(
    wheel: Path, tmp_path: Path, tenantkit_server: RunningServer
) -> None:
    # Before: `tenantkit demo` needed a source checkout (examples/ was not shipped).
    venv = _install(wheel, tmp_path)
    url = tenantkit_server.admin_url.render_as_string(hide_password=False)
    done = subprocess.run(
        [str(venv / "bin" / "tenantkit"), "demo", "--database-url", url],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rows matched." in done.stdout
    assert "What to try next:" in done.stdout
    assert f"{venv}" in done.stdout.split("What to try next:")[1]  # the wheel's own example
