"""The psycopg seam: every private psycopg name lives in `tenantkit/db/_psycopg.py`
and is probed at import, so a psycopg release that renames one fails loudly
(`BindingError` naming the version), never with an AttributeError mid-request."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tenantkit import BindingError
from tenantkit.db import _psycopg

pytestmark = pytest.mark.nodb

SOURCE = Path(_psycopg.__file__).read_text()
#: Private modules the fence imports by name (not attributes).
MODULES = {"_connection_base", "_pipeline", "_preparing"}


def probed() -> set[str]:
    names = {name for names in _psycopg._REQUIRED.values() for name in names}
    names |= {name for _module, _cls, assigned in _psycopg._ASSIGNED for name in assigned}
    return names


def test_every_private_name_the_fence_reads_is_probed() -> None:
    used = set(re.findall(r"\._([a-z]\w*)", SOURCE))
    used |= set(re.findall(r'attrgetter\("_(\w+)"\)', SOURCE))
    used = {f"_{name}" for name in used} - MODULES
    assert used - probed() == set()


def test_the_binding_modules_use_no_private_psycopg_name() -> None:
    # _connection.py reaches psycopg's internals only through the fence.
    text = (Path(_psycopg.__file__).parent / "_connection.py").read_text()
    assert not re.search(r"psycopg\.\w*\._|psycopg\._", text)
    own = set(re.findall(r"\._(\w+)", text))
    assert own & {name.lstrip("_") for name in probed()} == set()


@pytest.mark.parametrize("table", ["required", "assigned"])
def test_a_missing_name_is_a_binding_error_naming_the_version(
    monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    _psycopg._probe()  # the installed psycopg passes
    if table == "required":
        monkeypatch.setattr(_psycopg, "_REQUIRED", {psycopg.Connection: ("_tk_gone",)})
        gone = "Connection._tk_gone"
    else:
        monkeypatch.setattr(_psycopg, "_ASSIGNED", (
            ("psycopg._connection_base", "BaseConnection", ("_tk_gone",)),
            ("psycopg._no_such_module", "Nothing", ("x",)),
        ))
        gone = "BaseConnection._tk_gone, Nothing.x"
    with pytest.raises(BindingError) as refused:
        _psycopg._probe()
    assert f"psycopg {psycopg.__version__}" in str(refused.value)
    assert gone in str(refused.value)
