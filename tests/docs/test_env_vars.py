"""Every TENANTKIT_* variable the code reads is documented in the README's table, and
the table names no variable the code does not read (five of eight were undocumented)."""

from __future__ import annotations

import re

import pytest

from tests.docs.snippets import README, ROOT

pytestmark = pytest.mark.nodb

_NAME = re.compile(r"TENANTKIT_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])")  # not a prefix


def _in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("tenantkit", "migrations"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(_NAME.findall(path.read_text(encoding="utf-8")))
    return found


def _in_table() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    return {m for line in section.splitlines() if line.startswith("| `")
            for m in _NAME.findall(line.split("|")[1])}


def test_every_variable_is_documented_and_every_documented_one_is_read() -> None:
    assert _in_code() == _in_table()
