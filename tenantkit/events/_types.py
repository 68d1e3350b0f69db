"""The event names tenantkit emits (PropelAuth's), and what each one is about.

The same list is `tenantkit.event_types()` in SQL (sql/0004_events.sql); a test
keeps the two equal.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["EVENT_TYPES", "EventType", "check_event_types"]

EventType = Literal[
    "org.created", "org.updated", "org.deleted",
    "user.created", "user.updated", "user.deleted",
    "user.added_to_org", "user.removed_from_org", "user.role_changed_within_org",
    "user.invited_to_org",
    "org.api_key_created", "org.api_key_archived",
]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)


def check_event_types(field: str, values: object) -> list[str]:
    """`values` as a list of known event types (duplicates dropped); InvalidField otherwise."""
    from tenantkit.errors import InvalidField

    if values is None or isinstance(values, str | bytes):
        raise InvalidField(field, "must be a list of event types")
    try:
        items = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidField(field, "must be a list of event types") from None
    unknown = sorted({str(v) for v in items if v not in EVENT_TYPES})
    if unknown:
        raise InvalidField(field, f"unknown event type(s): {', '.join(unknown)[:200]}")
    return list(dict.fromkeys(items))
