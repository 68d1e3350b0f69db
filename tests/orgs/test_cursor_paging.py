"""Cursor paging (WorkOS's before/after) beside page numbers, keyset underneath."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from tenantkit import InvalidField
from tenantkit.orgs import CursorRequest, Management, OrgOrder, PageRequest

from .conftest import ServiceFactory


def _walk(m: Management, tag: str, order: OrgOrder, limit: int) -> tuple[list[str], list[str]]:
    """Every org of `tag`, forward by `after` and then back by `before`."""
    forward: list[str] = []
    page = m.orgs.query(name=tag, order_by=order, cursor=CursorRequest(limit))
    pages = [page]
    forward += [o.name for o in page.items]
    while page.after is not None:
        page = m.orgs.query(name=tag, order_by=order, cursor=CursorRequest(limit,
                                                                           after=page.after))
        pages.append(page)
        forward += [o.name for o in page.items]
    backward: list[str] = []
    while page.before is not None:
        page = m.orgs.query(name=tag, order_by=order, cursor=CursorRequest(limit,
                                                                           before=page.before))
        backward = [o.name for o in page.items] + backward
    return forward, backward


@pytest.mark.parametrize("order", ["NAME", "CREATED_AT_ASC", "CREATED_AT_DESC"])
def test_cursors_walk_the_same_list_as_page_numbers(
    service: ServiceFactory, unique: Callable[[str], str], order: OrgOrder
) -> None:
    tag = unique("cursor")
    with service() as m:
        for i in range(7):
            m.orgs.create(f"{tag} {secrets.token_hex(2)} {i}")
    with service() as m:
        numbered = [o.name for o in m.orgs.query(name=tag, order_by=order,
                                                 page=PageRequest(100)).items]
        forward, backward = _walk(m, tag, order, 3)
        first = m.orgs.query(name=tag, order_by=order, cursor=CursorRequest(3))
    assert len(numbered) == 7
    assert forward == numbered
    # back from the last page to the first: everything before the last page, in order
    assert backward == numbered[: len(backward)] and len(backward) >= 3
    assert first.before is None and first.total == 7


def test_a_cursor_this_list_did_not_give_is_refused(service: ServiceFactory) -> None:
    for bad in ("not-base64!", "W10=", "WyJ4Il0="):  # junk, [], ["x"] (one key of two)
        with pytest.raises(InvalidField, match="after"), service() as m:
            m.orgs.query(cursor=CursorRequest(2, after=bad))
    with pytest.raises(InvalidField, match="before"):
        CursorRequest(2, after="a", before="b")
