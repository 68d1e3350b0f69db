"""The module map of docs/architecture.md, held: each room imports only what it may.

Arrows point down the request path: `tokens` never imports `db`, `db` never
imports `web`, the web layer and the database layer meet only at the
ContextVar (`context`). A new import across rooms is a decision: make it here
and in docs/architecture.md, in the same change.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb

PACKAGE = Path(__file__).resolve().parents[1] / "tenantkit"
ROOMS = {"alembic", "db", "doctor", "events", "identity", "orgs", "selfservice", "server",
         "tables", "testing", "tokens", "web"}

#: room -> the rooms it may import (besides itself). Keep docs/architecture.md §2 in step.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "context": {"errors"},
    "database_roles": set(),
    "sqlfiles": {"database_roles"},
    "_strict_json": set(),
    "rls": set(),
    "schema": set(),
    "tokens": {"errors", "context", "_strict_json"},
    "authz": {"errors", "tokens"},
    "background": {"errors", "context"},
    "db": {"errors", "context", "sqlfiles", "rls"},
    "migrate": {"database_roles", "sqlfiles", "provision", "db"},
    "provision": {"database_roles", "sqlfiles", "migrate"},
    "tables": {"errors", "rls", "database_roles", "sqlfiles", "migrate"},
    "orgs": {"errors", "context", "schema", "tokens"},
    "events": {"errors", "sqlfiles", "migrate", "orgs"},
    "alembic": {"rls", "tables", "database_roles", "sqlfiles", "migrate"},
    "doctor": {"rls", "tables", "database_roles", "sqlfiles", "migrate"},
    "startup": {"errors", "migrate", "sqlfiles"},
    "web": {"errors", "context", "tokens", "authz", "startup"},
    "identity": {"errors", "context", "_strict_json", "sqlfiles", "tokens"},
    "selfservice": {"errors", "context", "tokens", "orgs", "web"},
    "server": {"errors", "context", "_strict_json", "database_roles", "migrate", "tokens",
               "orgs", "events", "db", "selfservice", "schema"},
    "testing": {"errors", "context", "database_roles", "sqlfiles", "migrate", "schema", "db",
                "tokens", "tables", "doctor", "orgs"},
    "cli": set(),  # loads each command by name, when invoked
}
#: Commands for a source checkout; they may use anything (the demo runs the harness).
ANYTHING = {"demo", "__init__"}


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(part for part in relative.parts if part != "__init__")
        room = _room(module)
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "tenantkit":
                    targets = [f"tenantkit.{alias.name}" for alias in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target.startswith("tenantkit.") and _room(target) != room:
                    found.setdefault(room, set()).add(_room(target))
    return found


IMPORTS = _imports()


def test_every_room_is_on_the_map() -> None:
    on_disk = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | ROOMS
    assert on_disk - ANYTHING == set(MAY_IMPORT)


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_each_room_imports_only_what_it_may(room: str) -> None:
    assert IMPORTS.get(room, set()) <= MAY_IMPORT[room]


def test_the_request_path_points_one_way() -> None:
    assert "db" not in IMPORTS.get("tokens", set())
    assert not {"web", "server"} & IMPORTS.get("db", set())
    assert not {"db", "orgs"} & IMPORTS.get("web", set())  # they meet at the ContextVar


DOC = PACKAGE.parent / "docs" / "architecture.md"


def _documented_map() -> dict[str, set[str]]:
    # The module table of docs/architecture.md §2: | `module` | owns | may import |
    documented: dict[str, set[str]] = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        is_module = cells[0].startswith("`") and cells[0].endswith(("/`", ".py`"))
        if len(cells) != 3 or not is_module:
            continue
        name = cells[0].strip("`").removeprefix("tenantkit/").removesuffix("/")
        name = name.removesuffix(".py")
        allowed = cells[2]
        documented[name] = (
            set() if allowed in ("—", "") else {a.strip() for a in allowed.split(",")}
        )
    return documented


def test_the_documented_map_is_the_enforced_one() -> None:
    # docs/architecture.md says this test holds its table: so it compares them.
    documented = _documented_map()
    for room in ANYTHING:
        assert documented.pop(room, None) in ({"anything (lazily)"}, {"anything"}, None)
    assert documented == MAY_IMPORT


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text() for p in PACKAGE.rglob("*.py")}


def test_one_uuid_pattern_in_the_package() -> None:
    # context.UUID_PATTERN is the one spelling; everything else uses it.
    spelled = {path for path, text in _sources().items() if re.search(r"\{8\}-|\{12\}", text)}
    assert spelled == {"context.py"}


def test_one_bearer_header_parser() -> None:
    # tokens.bearer_token reads every Authorization header (tokens and integration keys).
    parsing = {path for path, text in _sources().items()
               if re.search(r"""removeprefix\(\s*["'](?i:bearer)""", text)
               or (re.search(r"""partition\(\s*["'] ["']\s*\)|split\(\s*["'] ["']""", text)
                   and re.search(r"(?i)\bbearer\b", text))}
    assert parsing <= {"tokens/_bearer.py"}


def test_the_modules_the_map_names_exist() -> None:
    # The map names modules by file (`paging.py`) and, inside the larger rooms, by
    # name (`_verifier`): a rename that leaves the prose behind fails here.
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    files = {p.name for p in PACKAGE.parent.rglob("*.py") if ".venv" not in p.parts}
    named = set(re.findall(r"`(?:[\w/]+/)?(\w+\.py)`", text))
    assert named - files == set()
    rooms = text[text.index("Inside the larger rooms:"):text.index("### One definition per fact")]
    for bullet in re.split(r"(?m)^- ", rooms)[1:]:
        room = re.match(r"\*\*([\w/]+)/\*\*", bullet)
        assert room, bullet
        package = PACKAGE / room.group(1)
        for name in re.findall(r"`(_?[a-z]\w*)`", bullet):
            if (package / f"_{name.lstrip('_')}.py").exists() and not name.startswith("_"):
                pytest.fail(f"{room.group(1)}/: `{name}` is `_{name}` now")
            if name.startswith("_") and not (package / f"{name}.py").exists() \
                    and not (package / name).is_dir():
                pytest.fail(f"{room.group(1)}/: no module `{name}`")
