"""Which strings the backend API accepts: no NUL, no control characters, no lone surrogates.

PostgreSQL stores NUL in neither text nor jsonb, psycopg cannot encode a lone
surrogate as UTF-8, and a control character in a name, an email, a role or an
id is never meant (and can mislead whoever reads it later: logs, terminals,
admin screens). So every string a request carries is checked once, before any
handler runs, and refused with 400 naming the field:
- path, query parameter names and values, JSON object keys and JSON strings:
  no character of Unicode category Cc (U+0000-U+001F, U+007F-U+009F) and no
  surrogate (U+D800-U+DFFF);
- free text inside the JSON fields `metadata`, `properties` and `value`
  (arbitrary JSON the caller stores): the same, except that TAB, LF and CR are
  kept there;
- numbers must be finite, and JSON may nest at most `MAX_DEPTH` levels.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

__all__ = ["FREE_TEXT_FIELDS", "MAX_DEPTH", "check_json", "check_text", "is_field_name"]

_STRICT: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_FREE_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: JSON fields holding the caller's own data: strings under them are free text.
FREE_TEXT_FIELDS: Final = frozenset({"metadata", "properties", "value"})
#: Deeper JSON is refused (stdlib and PostgreSQL parsers recurse per level).
MAX_DEPTH: Final = 64
# Only names like these are echoed in a refusal's `fields`; others are the caller's data.
_FIELD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_text(text: str, *, free_text: bool = False) -> str | None:
    """Why `text` is refused (a fixed reason, never the text), or None when it is fine."""
    match = (_FREE_TEXT if free_text else _STRICT).search(text)
    if match is None:
        return None
    char = match.group()
    if char == "\x00":
        return "must not contain NUL characters"
    if "\ud800" <= char <= "\udfff":
        return "must be valid Unicode text (it contains an unpaired surrogate)"
    return "must not contain control characters"


def is_field_name(name: str) -> bool:
    """Whether `name` may be echoed in a refusal's `fields` (a plain identifier)."""
    return _FIELD_NAME.fullmatch(name) is not None


def check_json(value: Any) -> tuple[str, str] | None:
    """(field, reason) for the first refused value in a parsed JSON body, else None.

    `field` is a dotted path of the body's field names ("name", "roles.name",
    "metadata"); it stops at a free-text field, and at any key that is not a
    plain name, so a refusal never echoes the caller's data.
    """
    # (value, path, inside free text, depth); iterative, so depth costs no stack.
    stack: list[tuple[Any, tuple[str, ...], bool, int]] = [(value, (), False, 0)]
    while stack:
        item, path, free, depth = stack.pop()
        if isinstance(item, str):
            why = check_text(item, free_text=free)
            if why is not None:
                return _path(path), why
        elif isinstance(item, dict):
            if depth >= MAX_DEPTH:
                return _path(path), f"must not nest deeper than {MAX_DEPTH} levels"
            children = []
            for key, child in item.items():
                why = check_text(key)
                if why is not None:
                    return _path(path), "keys " + why
                named = not free and is_field_name(key)
                child_path = (*path, key) if named else path
                child_free = free or (named and key in FREE_TEXT_FIELDS)
                children.append((child, child_path, child_free, depth + 1))
            stack.extend(reversed(children))  # popped in document order
        elif isinstance(item, list):
            if depth >= MAX_DEPTH:
                return _path(path), f"must not nest deeper than {MAX_DEPTH} levels"
            stack.extend((child, path, free, depth + 1) for child in reversed(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return _path(path), "must be a finite number"
    return None


def _path(path: tuple[str, ...]) -> str:
    return ".".join(path) or "body"
