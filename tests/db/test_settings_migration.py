"""0011 (self-service settings) and its downgrade: the downgrade restores the revision
before it exactly (every catalog fact test_own_migration compares), and it upgrades
again. The revision before is read off the migration, so a rechained 0011 still tests
only itself."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from tenantkit import migrate
from tenantkit.sqlfiles import migrations_dir
from tenantkit.testing import RunningServer, TestDatabase, provision_database

from .test_own_migration import snapshot


def _previous() -> str:
    """0011's down_revision, as its script says."""
    script = next(migrations_dir().glob("**/0011_*.py")).read_text()
    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "down_revision":
            return str(ast.literal_eval(node.value))
    raise AssertionError("0011 names no down_revision")


@pytest.fixture
def at_previous(tenantkit_server: RunningServer) -> Iterator[TestDatabase]:
    db = provision_database(tenantkit_server)
    migrate.upgrade(db.url("owner"), roles=db.roles, revision=_previous())
    yield db
    db.drop()


def test_the_downgrade_restores_the_revision_before_exactly(at_previous: TestDatabase) -> None:
    url = at_previous.url("owner")
    before = snapshot(at_previous)
    migrate.upgrade(url, roles=at_previous.roles, revision="0011")
    upgraded = snapshot(at_previous)
    names = {row[0] for row in upgraded["functions"]} - {row[0] for row in before["functions"]}
    assert names == {"update_current_org_settings", "remove_current_org_domain"}
    assert "current_org_invite_deliveries" not in {row[0] for row in upgraded["functions"]}
    migrate.downgrade(url, roles=at_previous.roles, revision=_previous())
    after = snapshot(at_previous)
    assert {k: (before[k] - after[k], after[k] - before[k]) for k in before
            if before[k] != after[k]} == {}
    migrate.upgrade(url, roles=at_previous.roles, revision="0011")
    assert snapshot(at_previous) == upgraded
