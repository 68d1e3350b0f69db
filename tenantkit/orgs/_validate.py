"""Input checks that must name the offending field before anything is sent.

The database holds the real rules; these only turn malformed input into a 400
that names the field, instead of a cast error deep inside a statement.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from tenantkit.context import UUID_PATTERN
from tenantkit.errors import InvalidField

__all__ = [
    "check_email",
    "check_id",
    "check_ids",
    "check_json_object",
    "check_name",
    "check_positive",
    "check_role",
    "check_roles",
]

# The database's own check (users_email_check), plus a length bound.
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+")
_DOMAIN_RE: Final = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
)
MAX_IDS: Final = 100


def check_id(field: str, value: object) -> str:
    """A canonical lowercase UUID string, or InvalidField naming `field`."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if UUID_PATTERN.fullmatch(lowered):
            return lowered
    raise InvalidField(field, "must be a UUID")


def check_ids(field: str, values: Iterable[object]) -> list[str]:
    """Distinct canonical UUIDs, at most MAX_IDS of them."""
    ids = list(dict.fromkeys(check_id(field, v) for v in values))
    if len(ids) > MAX_IDS:
        raise InvalidField(field, f"at most {MAX_IDS} values")
    return ids


def check_email(field: str, value: object) -> str:
    """A lower-cased, trimmed email address."""
    if isinstance(value, str):
        email = value.strip().lower()
        if len(email) <= 320 and _EMAIL_RE.fullmatch(email):
            return email
    raise InvalidField(field, "must be an email address")


def check_domain(field: str, value: object) -> str:
    """A lower-cased DNS domain such as example.com."""
    if isinstance(value, str):
        domain = value.strip().lower().removeprefix("@")
        if _DOMAIN_RE.fullmatch(domain):
            return domain
    raise InvalidField(field, "must be a domain such as example.com")


def check_name(field: str, value: object, *, max_length: int = 200) -> str:
    """A non-blank, trimmed name of at most `max_length` characters."""
    if isinstance(value, str):
        name = value.strip()
        if 1 <= len(name) <= max_length and "\x00" not in name:
            return name
    raise InvalidField(field, f"must be 1 to {max_length} characters")


def check_role(field: str, value: object) -> str:
    return check_name(field, value, max_length=100)


def check_roles(field: str, values: Iterable[object] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise InvalidField(field, "must be a list of role names")
    return list(dict.fromkeys(check_role(field, v) for v in values))


def check_positive(field: str, value: object, *, maximum: int = 2**31 - 1) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= maximum:
        return value
    raise InvalidField(field, f"must be an integer from 1 to {maximum}")


def check_json_object(field: str, value: object) -> dict[str, Any]:
    """A JSON object (a dict with string keys), without NUL characters in strings."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidField(field, "must be a JSON object")
    if "\\u0000" in repr(value) or "\x00" in repr(value):
        raise InvalidField(field, "must not contain NUL characters")
    return dict(value)


def check_text(field: str, value: object, *, max_length: int = 1000) -> str:
    """Free text (may be empty) without NUL characters."""
    if isinstance(value, str) and len(value) <= max_length and "\x00" not in value:
        return value
    raise InvalidField(field, f"must be text of at most {max_length} characters")
