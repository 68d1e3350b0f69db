"""Cursor paging for users and members, beside PropelAuth's page numbers.

A walk by cursor is stable while others insert and delete between its pages:
every row present throughout is seen exactly once. The same walk by page
number (`page_number`) sees rows twice or skips them: the `page_number` cases
show the tests would catch a cursor that behaved like an offset.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tenantkit import InvalidField
from tenantkit.orgs import CursorRequest, Management, PageRequest, UserOrder
from tenantkit.testing import TwoOrgs

from .conftest import ServiceFactory, UserFactory

ORDERS: tuple[UserOrder, ...] = ("CREATED_AT_ASC", "CREATED_AT_DESC", "LAST_ACTIVE_AT_ASC",
                                 "LAST_ACTIVE_AT_DESC", "EMAIL", "USERNAME")


def _tagged_users(m: Management, tag: str, count: int) -> list[str]:
    """`count` users whose emails contain `tag`; some active, some never, some named."""
    made = []
    now = datetime.now(UTC)
    for i in range(count):
        user = m.users.create(f"{secrets.token_hex(3)}.{tag}@example.com",
                              username=f"{tag}{secrets.token_hex(2)}" if i % 3 else None)
        if i % 2:
            m.conn.execute(sa.text("UPDATE tenantkit.users SET last_active_at = :t "
                                   "WHERE user_id = :u"),
                           {"t": now - timedelta(minutes=i), "u": user.user_id})
        made.append(user.user_id)
    return made


@pytest.mark.parametrize("order", ORDERS)
def test_user_cursors_walk_the_numbered_list(
    service: ServiceFactory, order: UserOrder
) -> None:
    tag = f"uc{uuid.uuid4().hex[:8]}"
    with service() as m:
        _tagged_users(m, tag, 8)
    with service() as m:
        numbered = [u.user_id for u in m.users.query(
            email_or_username=tag, order_by=order, page=PageRequest(100)).items]
        page = m.users.query(email_or_username=tag, order_by=order, cursor=CursorRequest(3))
        assert page.before is None and page.total == 8
        forward = [u.user_id for u in page.items]
        while page.after is not None:
            page = m.users.query(email_or_username=tag, order_by=order,
                                 cursor=CursorRequest(3, after=page.after))
            forward += [u.user_id for u in page.items]
        back = m.users.query(email_or_username=tag, order_by=order,
                             cursor=CursorRequest(3, before=page.before))
        # and from a numbered page onwards by its cursor
        second = m.users.query(email_or_username=tag, order_by=order, page=PageRequest(3, 1))
        third = m.users.query(email_or_username=tag, order_by=order,
                              cursor=CursorRequest(3, after=second.after))
    assert len(numbered) == 8 and forward == numbered
    assert [u.user_id for u in back.items] == numbered[3:6]
    assert [u.user_id for u in third.items] == numbered[6:]


@pytest.mark.parametrize("walk", ["cursor", "page_number"])
def test_a_user_walk_by_cursor_is_stable_under_inserts(
    service: ServiceFactory, walk: str
) -> None:
    """By email: after each page another session inserts a user who sorts first."""
    tag = f"us{uuid.uuid4().hex[:8]}"
    with service() as m:
        originals = set(_tagged_users(m, tag, 9))
    seen: list[str] = []
    page_number, after = 0, None
    for _ in range(10):
        with service() as m:
            page = (m.users.query(email_or_username=tag, order_by="EMAIL",
                                  cursor=CursorRequest(3, after=after)) if walk == "cursor"
                    else m.users.query(email_or_username=tag, order_by="EMAIL",
                                       page=PageRequest(3, page_number)))
        seen += [u.user_id for u in page.items]
        with service() as m:  # committed before the next page is read
            m.users.create(f"0{secrets.token_hex(3)}.{tag}@example.com")
        if not page.items or (walk == "cursor" and page.after is None):
            break
        page_number, after = page_number + 1, page.after
    originals_seen = [u for u in seen if u in originals]
    if walk == "cursor":
        assert sorted(originals_seen) == sorted(originals)  # each exactly once
        assert len(seen) == len(set(seen))
    else:  # each insert pushes a seen row onto the next page: seen twice
        assert len(originals_seen) > len(set(originals_seen))


@pytest.mark.parametrize("walk", ["cursor", "page_number"])
def test_a_member_walk_by_cursor_is_stable_under_joins_and_leaves(
    service: ServiceFactory, as_user: UserFactory, make_seed: Callable[[], TwoOrgs],
    walk: str,
) -> None:
    """An Admin of A lists A's members while the backend adds and removes members of
    A (and of B) between the pages."""
    orgs = make_seed()
    a, b = orgs.a, orgs.b
    with service() as m:
        extra = [m.users.create(f"m{i}.{uuid.uuid4().hex[:6]}@example.com").user_id
                 for i in range(8)]
        for user_id in extra:
            m.members.add(a.org_id, user_id, "Member")
        everyone = [x.user.user_id for x in m.members.list(a.org_id, page=PageRequest(100)).items]
    assert len(everyone) == 12
    seen: list[str] = []
    left: set[str] = set()
    page_number, after = 0, None
    for _ in range(10):
        with as_user(a.admin_id, a.org_id) as m:
            page = (m.members.list(a.org_id, cursor=CursorRequest(3, after=after))
                    if walk == "cursor" else
                    m.members.list(a.org_id, page=PageRequest(3, page_number)))
        seen += [x.user.user_id for x in page.items]
        with service() as m:  # someone already listed leaves; newcomers join A and B
            leaving = next(u for u in seen if u not in left and u != a.admin_id)
            m.members.remove(a.org_id, leaving)
            left.add(leaving)
            for org_id in (a.org_id, b.org_id):
                newcomer = m.users.create(f"n.{uuid.uuid4().hex[:8]}@example.com").user_id
                m.members.add(org_id, newcomer, "Member")
        if not page.items or (walk == "cursor" and page.after is None):
            break
        page_number, after = page_number + 1, page.after
    with service() as m:
        in_b = {x.user.user_id for x in m.members.list(b.org_id, page=PageRequest(100)).items}
    assert not (set(seen) & (in_b - {orgs.shared_user_id}))  # never another org's member
    if walk == "cursor":
        assert seen[:12] == everyone and len(seen) == len(set(seen))
    else:  # each leave pulls an unseen member onto an earlier page: skipped
        assert set(everyone) - set(seen)


def test_a_cursor_gives_no_reach_into_another_org(
    as_user: UserFactory, make_seed: Callable[[], TwoOrgs]
) -> None:
    """A cursor is keys, not authority: on another org's list it only positions."""
    orgs = make_seed()
    a, b = orgs.a, orgs.b
    with as_user(a.owner_id, a.org_id) as m:
        first = m.members.list(a.org_id, cursor=CursorRequest(2))
    assert first.after is not None
    with as_user(b.owner_id, b.org_id) as m:
        page = m.members.list(b.org_id, cursor=CursorRequest(100, after=first.after))
        assert {x.user.user_id for x in page.items} <= {b.owner_id, b.admin_id, b.member_id,
                                                        orgs.shared_user_id}
        # A's id, bound to B: nothing (the policies), cursor or not
        assert m.members.list(a.org_id, cursor=CursorRequest(100, after=first.after)).items == []


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


@pytest.mark.parametrize("bad", [
    "not-base64!", _cursor([]), _cursor(["2026-01-01T00:00:00+00:00"]),
    _cursor(["yesterday", str(uuid.uuid4())]), _cursor(["2026-01-01T00:00:00+00:00", "x"]),
    _cursor([1, str(uuid.uuid4())]), _cursor({"a": 1}),
])
def test_a_cursor_this_list_did_not_give_is_a_400(service: ServiceFactory, bad: str) -> None:
    for field, cursor in (("after", CursorRequest(2, after=bad)),
                          ("before", CursorRequest(2, before=bad))):
        with pytest.raises(InvalidField, match=field), service() as m:
            m.users.query(cursor=cursor)


def _cursor_page_plan(conn: sa.Connection, walk: Callable[[CursorRequest], Any]) -> str:
    """EXPLAIN of the statement `walk` sends for the page after its first page."""
    page = walk(CursorRequest(2))
    assert page.after is not None
    captured: list[tuple[str, Any]] = []

    def keep(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any,
             _many: bool) -> None:
        if "to_jsonb" in statement:
            captured.append((statement, params))

    sa.event.listen(conn, "before_cursor_execute", keep)
    walk(CursorRequest(2, after=page.after))
    sa.event.remove(conn, "before_cursor_execute", keep)
    [(statement, params)] = captured
    # Small test tables: make the planner show what it can do, not what is cheapest.
    conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
    conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
    conn.execute(sa.text("SET LOCAL enable_sort = off"))
    return "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement,
                                                              params).all())


def test_a_cursor_page_is_an_index_range_scan(
    service_engine: Engine, make_seed: Callable[[], TwoOrgs]
) -> None:
    """The keyset bound is an Index Cond on users_created_at, not a filter."""
    make_seed()  # users to page through, whatever ran before
    with service_engine.begin() as conn:
        m = Management(conn)
        plan = _cursor_page_plan(conn, lambda c: m.users.query(cursor=c))
    assert "users_created_at" in plan and "Index Cond" in plan, plan


def test_a_member_cursor_page_reads_the_org_in_join_order(
    service_engine: Engine, make_seed: Callable[[], TwoOrgs]
) -> None:
    """Members come off memberships_org_created in (created_at, user_id) order, the
    org and the keyset bound as its Index Cond: no sort of the whole org."""
    a = make_seed().a
    with service_engine.begin() as conn:
        m = Management(conn)
        plan = _cursor_page_plan(conn, lambda c: m.members.list(a.org_id, cursor=c))
    assert "memberships_org_created" in plan and "Index Cond" in plan, plan
    assert "Sort" not in plan, plan
