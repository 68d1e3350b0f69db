"""`tenantkit demo` end to end, on this run's PostgreSQL (--database-url)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tenantkit.cli import main
from tenantkit.testing import RunningServer


@pytest.mark.slow
def test_demo_tour_matches_every_row(tenantkit_server: RunningServer) -> None:
    url = tenantkit_server.admin_url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["demo", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output
    assert "401, 0 pool checkouts" in result.output
    assert "rows matched." in result.output
