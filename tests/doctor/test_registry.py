"""The doctor's one registry: every check has its number, its SQL file and its tests.

A check is registered by `@check` where it is defined; nothing else lists it.
These hold the registry to the files around it: a check added without its
`sql/doctor/` query, or without a test that names it, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantkit.doctor import CHECKS, Check
from tenantkit.doctor._findings import check
from tenantkit.sqlfiles import sql_dir

pytestmark = pytest.mark.nodb

TESTS = Path(__file__).parent
#: Read by every check (the tables in scope), not by one.
SHARED_SQL = {"scope"}


def _ids(check: Check) -> str:
    return f"{check.number}-{check.id}"


@pytest.mark.parametrize("registered", CHECKS.values(), ids=_ids)
def test_every_check_has_its_sql_file(registered: Check) -> None:
    assert registered.sql, f"check {registered.id} names no sql/doctor/ file"
    for name in registered.sql:
        assert (sql_dir() / "doctor" / f"{name}.sql").is_file(), name
        if name not in SHARED_SQL:
            assert name.startswith(f"{registered.number:02d}_"), name


def test_every_sql_file_belongs_to_a_check() -> None:
    claimed = {name for c in CHECKS.values() for name in c.sql} | SHARED_SQL
    present = {path.stem for path in (sql_dir() / "doctor").glob("*.sql")}
    assert present == claimed


@pytest.mark.parametrize("registered", CHECKS.values(), ids=_ids)
def test_every_check_has_its_tests(registered: Check) -> None:
    naming = [
        path.name
        for path in sorted(TESTS.glob("test_*.py"))
        if path.name != Path(__file__).name and f'"{registered.id}"' in path.read_text()
    ]
    assert naming, f"no test in tests/doctor/ names check {registered.id!r}"


def test_a_check_registers_once() -> None:
    first = next(iter(CHECKS.values()))
    with pytest.raises(RuntimeError, match="clashes"):
        check(first.id, 99, "again", sql=[])(first.run)
    with pytest.raises(RuntimeError, match="clashes"):
        check("another-id", first.number, "again", sql=[])(first.run)
    assert CHECKS[first.id] is first
