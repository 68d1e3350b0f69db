"""Paging: page numbers that cost about the same on page 900 as on page 0, and cursors.

PropelAuth's APIs take `page_size` and `page_number`. A plain OFFSET reads and
discards every earlier row in full; here the skipping happens in a one-row
"anchor" query over the ordering keys alone, which an index on exactly those
keys answers with an index-only scan. The page itself is then a keyset range
scan from the anchor: `(k1, k2) >= anchor` (or `<=` descending). Every ordering
ends in the primary key, so keys are unique and pages never overlap.

Cursors (WorkOS's `before`/`after`) are the same keyset without the anchor: an
opaque encoding of the ordering keys of a page's first or last row, and the
next page is the range scan from there. A walk by cursor is stable while rows
come and go: every row that was there from start to end is seen exactly once
(page numbers shift by one for each row inserted or deleted before the page).
A row whose own ordering key changes meanwhile (`last_active_at`) may move.

The keys travel as PostgreSQL renders them in JSON (`to_jsonb`: ISO 8601 with
an offset for timestamps, `-infinity` included), read back by a cast to the
key's own type, so a cursor means the same on any session, whatever its
DateStyle or TimeZone. `fetch_listing` is the one entry point: a page number or
a cursor, the rows, the total and the cursors around the page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, Row, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.types import DateTime, Text

from tenantkit.errors import InvalidField
from tenantkit.orgs._db import Conn, run

__all__ = ["MAX_PAGE_SIZE", "CursorRequest", "Listing", "PageRequest", "fetch_cursor_page",
           "fetch_listing", "fetch_page", "row_cursor"]

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
    stmt = select(*columns, *_key_columns(keys)).select_from(from_).where(*where)
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


def _key_columns(keys: Sequence[ColumnElement[Any]]) -> list[ColumnElement[Any]]:
    """The ordering keys as extra columns `_k0`, `_k1`…: what a row's cursor encodes."""
    return [func.to_jsonb(key).label(f"_k{i}") for i, key in enumerate(keys)]


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for one row's ordering keys (as `to_jsonb` rendered them)."""
    plain = [v if isinstance(v, str) else json.dumps(v) for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(field: str, text: str, keys: Sequence[ColumnElement[Any]]) -> list[str]:
    """The ordering keys in a cursor, each checked against its key's type
    (InvalidField naming `field` when it is not a cursor such a list gives)."""
    refused = InvalidField(field, "is not a cursor this list gave")
    try:
        raw = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise refused from None
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise refused
    for value, key in zip(raw, keys, strict=True):
        if not isinstance(value, str) or len(value) > 400 or not _fits(value, key):
            raise refused
    return raw


def _fits(value: str, key: ColumnElement[Any]) -> bool:
    """Whether the server will read `value` as the key's type (a bad cast is a 400, not 500)."""
    try:
        if isinstance(key.type, DateTime):
            if value not in ("infinity", "-infinity"):
                datetime.fromisoformat(value)
        elif isinstance(key.type, PG_UUID):
            uuid.UUID(value)
    except ValueError:
        return False
    return "\x00" not in value


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
    stmt = select(*columns, *_key_columns(keys)).select_from(from_).where(*where)
    if given is not None:
        field = "before" if backward else "after"
        values = decode_cursor(field, given, keys)
        # Each key as text, cast to its own type by the server (which wrote it).
        bound = tuple_(*(literal(v, Text()).cast(k.type)
                         for v, k in zip(values, keys, strict=True)))
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
    """The cursor of one row: its ordering keys (the `_k` columns), encoded."""
    return encode_cursor([row._mapping[f"_k{i}"] for i in range(len(keys))])


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a list, by number or by cursor: its rows, the total (-1: not
    counted), and the cursors of the pages before and after it (None: nothing there)."""

    rows: list[Row[Any]]
    total: int
    page_number: int
    page_size: int
    before: str | None
    after: str | None


def fetch_listing(
    conn: Conn,
    *,
    columns: Sequence[Any],
    from_: FromClause,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[ColumnElement[Any]],
    descending: bool,
    page: PageRequest | CursorRequest,
    with_total: bool = True,
) -> Listing:
    """A page of `columns` ordered by `keys` (ending in a unique key), by page number or
    cursor. Numbered pages carry the cursors around them too, so a client may go on
    by cursor from any page."""
    if isinstance(page, CursorRequest):
        rows, before, after = fetch_cursor_page(
            conn, columns=columns, from_=from_, where=where, keys=keys,
            descending=descending, cursor=page)
        total = -1
        if with_total:
            total = int(run(conn, select(func.count()).select_from(from_)
                            .where(*where)).scalar_one())
        return Listing(rows, total, 0, page.limit, before, after)
    rows, total = fetch_page(conn, columns=columns, from_=from_, where=where, keys=keys,
                             descending=descending, page=page, with_total=with_total)
    more = (len(rows) == page.page_size if total < 0
            else (page.page_number + 1) * page.page_size < total)
    before = row_cursor(rows[0], keys) if rows and page.page_number else None
    after = row_cursor(rows[-1], keys) if rows and more else None
    return Listing(rows, total, page.page_number, page.page_size, before, after)
