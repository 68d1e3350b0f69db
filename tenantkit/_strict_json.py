"""JSON parsing for untrusted token parts: duplicate keys and non-finite numbers are refused.

The standard parser keeps the last of duplicated keys, so `{"org_id": a, "org_id": b}`
would mean whatever the last writer chose; RFC 7519 §4 lets a parser either refuse
such input or keep the last one, and tenantkit refuses it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DuplicateKeyError", "loads"]


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateKeyError("duplicate key in JSON object")
    return obj


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; the stdlib accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Parse UTF-8 JSON; raise `ValueError` (or its subclass `DuplicateKeyError`) on bad input."""
    try:
        # Decode explicitly: json.loads would also guess UTF-16/32 for bytes, which JWT forbids.
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_object, parse_constant=_no_constant)
    except RecursionError as exc:  # deeply nested input
        raise ValueError("JSON nests too deeply") from exc
