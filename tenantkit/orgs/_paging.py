"""Paging: page numbers that cost about the same on page 900 as on page 0, and cursors.

PropelAuth's APIs take `page_size` and `page_number`. A plain OFFSET reads and
discards every earlier row in full; here the skipping happens in a one-row
"anchor" query over the ordering keys alone, which an index on exactly those
keys answers with an index-only scan. The page itself is then a keyset range
scan from the anchor: `(k1, k2) >= anchor` (or `<=` descending). Every ordering
ends in the primary key, so keys are unique and pages never overlap.

Cursors (WorkOS's `before`/`after`) are the same keyset without the anchor: an
opaque encoding of the ordering keys of a page's first or last row, and the
next page is the range scan from there.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, Row, func, literal, select, tuple_

from tenantkit.errors import InvalidField
from tenantkit.orgs._db import Conn, run

__all__ = ["MAX_PAGE_SIZE", "CursorRequest", "PageRequest", "fetch_cursor_page", "fetch_page",
           "row_cursor"]

MAX_PAGE_SIZE: Final = 100
# Beyond this a caller is scraping, not paging; a bound keeps the anchor cheap.
MAX_OFFSET: Final = 10_000_000


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A validated page: `page_size` 1..100, `page_number` from 0."""

    page_size: int = 10
    page_number: int = 0

    def __post_init__(self) -> None:
        size, number = self.page_size, self.page_number
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidField("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise InvalidField("page_number", "must be an integer from 0")
        if size * number > MAX_OFFSET:
            raise InvalidField("page_number", "is too large")

    @property
    def offset(self) -> int:
        return self.page_size * self.page_number


def fetch_page(
    conn: Conn,
    *,
    columns: Sequence[Any],
    from_: FromClause,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[ColumnElement[Any]],
    descending: bool,
    page: PageRequest,
    with_total: bool = True,
) -> tuple[list[Row[Any]], int]:
    """One page of `columns` ordered by `keys`, and the total number of matches
    (-1 without `with_total`: counting reads every match, paging does not)."""
    order = [key.desc() if descending else key.asc() for key in keys]
    total = select(func.count()).select_from(from_).where(*where).scalar_subquery()
    stmt = select(*columns).select_from(from_).where(*where)
    if page.offset:
        anchor = (
            select(*(key.label(f"k{i}") for i, key in enumerate(keys)))
            .select_from(from_)
            .where(*where)
            .order_by(*order)
            .offset(page.offset)
            .limit(1)
            .cte("anchor")
        )
        # One scalar subquery per key: each becomes an InitPlan, a constant by
        # the time the index is scanned, so the page is a range scan from the
        # anchor. (A join with the anchor would filter instead of seeking.)
        # Past the end there is no anchor: NULL bounds, no rows.
        bound = tuple_(*(select(column).scalar_subquery() for column in anchor.c))
        start = tuple_(*keys) <= bound if descending else tuple_(*keys) >= bound
        stmt = stmt.where(start)
    if with_total:
        stmt = stmt.add_columns(total.label("_total"))
    rows = list(run(conn, stmt.order_by(*order).limit(page.page_size)))
    if not with_total:
        return rows, -1
    if rows:
        return rows, int(rows[0]._mapping["_total"])
    # An empty page carries no total column; ask for it on its own.
    return [], int(run(conn, select(total)).scalar_one())


@dataclass(frozen=True, slots=True)
class CursorRequest:
    """Up to `limit` (1..100) rows after the cursor `after`, or before `before` (not both)."""

    limit: int = 10
    after: str | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        limit = self.limit
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidField("limit", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
        if self.after is not None and self.before is not None:
            raise InvalidField("before", "give before or after, not both")


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for one row's ordering keys."""
    plain = [{"ts": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(field: str, text: str, count: int) -> list[Any]:
    """The ordering keys in a cursor (InvalidField naming `field` when it is not one)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        if not isinstance(raw, list) or len(raw) != count:
            raise ValueError(text)
        values = [datetime.fromisoformat(v["ts"]) if isinstance(v, dict) else v for v in raw]
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error):
        raise InvalidField(field, "is not a cursor this list gave") from None
    if not all(isinstance(v, str | datetime) for v in values):
        raise InvalidField(field, "is not a cursor this list gave")
    return values


def fetch_cursor_page(
    conn: Conn,
    *,
    columns: Sequence[Any],
    from_: FromClause,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[ColumnElement[Any]],
    descending: bool,
    cursor: CursorRequest,
) -> tuple[list[Row[Any]], str | None, str | None]:
    """One page by cursor, in the list's order, and the cursors before and after it
    (None: nothing there). Keyset underneath: a range scan from the cursor's keys."""
    backward = cursor.before is not None
    given = cursor.before if backward else cursor.after
    stmt = select(*columns).select_from(from_).where(*where)
    if given is not None:
        field = "before" if backward else "after"
        values = decode_cursor(field, given, len(keys))
        bound = tuple_(*(literal(v, k.type) for v, k in zip(values, keys, strict=True)))
        # Forward in a descending list, or backward in an ascending one: smaller keys.
        smaller = descending != backward
        stmt = stmt.where(tuple_(*keys) < bound if smaller else tuple_(*keys) > bound)
    reverse = descending != backward
    order = [key.desc() if reverse else key.asc() for key in keys]
    rows = list(run(conn, stmt.order_by(*order).limit(cursor.limit + 1)))
    more = len(rows) > cursor.limit
    rows = rows[:cursor.limit]
    if backward:
        rows.reverse()

    if not rows:
        return [], None, None
    before = row_cursor(rows[0], keys) if (more if backward else given is not None) else None
    after = row_cursor(rows[-1], keys) if (given is not None if backward else more) else None
    return rows, before, after


def row_cursor(row: Row[Any], keys: Sequence[ColumnElement[Any]]) -> str:
    """The cursor of one row: its ordering keys, encoded."""
    return encode_cursor([row._mapping[key.name] for key in keys])
