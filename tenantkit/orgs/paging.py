"""Page-number paging that costs about the same on page 900 as on page 0.

PropelAuth's APIs take `page_size` and `page_number`. A plain OFFSET reads and
discards every earlier row in full; here the skipping happens in a one-row
"anchor" query over the ordering keys alone, which an index on exactly those
keys answers with an index-only scan. The page itself is then a keyset range
scan from the anchor: `(k1, k2) >= anchor` (or `<=` descending). Every ordering
ends in the primary key, so keys are unique and pages never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, Row, func, select, tuple_

from tenantkit.errors import InvalidField
from tenantkit.orgs._db import Conn, run

__all__ = ["MAX_PAGE_SIZE", "PageRequest", "fetch_page"]

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
