"""Code snippets of the README and the docs site, read from the Markdown itself.

A fenced block preceded by `<!-- recipe: NAME -->` is a file of the testing
recipe; every other ```python block is at least compiled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_FENCE = re.compile(
    r"(?:<!-- (?P<kind>recipe|run): ?(?P<name>[^ ]*) -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)^```",
    re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    lang: str
    kind: str | None
    name: str
    body: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    text = path.read_text(encoding="utf-8")
    return [
        Snippet(path, text.count("\n", 0, m.start()) + 1, m["lang"], m["kind"], m["name"] or "",
                m["body"])
        for m in _FENCE.finditer(text)
    ]


def documents() -> list[Path]:
    """The README and every page of the docs site."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def recipe() -> dict[str, str]:
    """The README's testing recipe: file name -> content."""
    return {s.name: s.body for s in snippets(README) if s.kind == "recipe"}
