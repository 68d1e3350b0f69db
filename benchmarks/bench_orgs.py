"""Org management throughput, and page-number paging cost deep into 100k orgs.

1. Create 1,000 orgs with 10 members each through `tenantkit.orgs` (service role,
   one transaction per org: the org, 10 users, 10 memberships, 21 audit rows).
2. With 100,000 orgs, query page 0 and page 900 (page_size 10) in each order and
   report median latencies and the page-900 / page-0 ratio: for `Orgs.query`
   as an API caller sees it (it counts all matches for `total_orgs`), for the
   page rows alone (`with_total=False`), and for a naive OFFSET as a baseline.

Uses TENANTKIT_TEST_DATABASE_URL when set, else a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import functools
import statistics
import time
import uuid
from collections.abc import Callable

import psycopg
import sqlalchemy
from sqlalchemy import Connection, Engine, text

from benchmarks._support import bench_database
from tenantkit.orgs import Actor, Management, PageRequest
from tenantkit.orgs._orgs import OrgOrder

ORGS = 1_000
MEMBERS = 10
TOTAL_ORGS = 100_000
PAGE_SIZE = 10
DEEP_PAGE = 900
REPEATS = 30

NAIVE = {
    "CREATED_AT_ASC": "created_at, org_id",
    "CREATED_AT_DESC": "created_at DESC, org_id DESC",
    "NAME": "name, org_id",
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def create_orgs(engine: Engine) -> None:
    timings: list[float] = []
    started = time.perf_counter()
    for i in range(ORGS):
        t0 = time.perf_counter()
        with engine.begin() as conn:
            m = Management(conn, Actor.service())
            org = m.orgs.create(f"bench org {i}", max_users=MEMBERS)
            for j in range(MEMBERS):
                user = m.users.create(f"u{j}-{uuid.uuid4().hex[:12]}@bench.example", autojoin=False)
                m.members.add(org.org_id, user.user_id, "Owner" if j == 0 else "Member")
        timings.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    print(
        f"created {ORGS} orgs x {MEMBERS} members in {elapsed:.1f}s: "
        f"{ORGS / elapsed:.1f} orgs/s, {ORGS * MEMBERS / elapsed:.0f} members/s "
        f"(median {_ms(statistics.median(timings))} per org incl. its users)"
    )


def fill_orgs(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM tenantkit.orgs").fetchone()
        assert row is not None
        missing = TOTAL_ORGS - int(row[0])
        # Distinct timestamps and names spread over the key space, as years of signups.
        conn.execute(
            "INSERT INTO tenantkit.orgs (name, url_safe_org_name, created_at) "
            "SELECT 'filler ' || md5(i::text), '', now() - make_interval(secs => i) "
            "FROM generate_series(1, %s) AS i",
            (missing,),
        )
        conn.execute("VACUUM ANALYZE tenantkit.orgs")


def median_of(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def paging(engine: Engine) -> None:
    print(
        f"\n{TOTAL_ORGS} orgs, page_size {PAGE_SIZE}: median of {REPEATS}, page {DEEP_PAGE} "
        f"vs page 0"
    )
    print(f"{'order':16} {'variant':22} {'page 0':>10} {'page 900':>10} {'ratio':>6}")
    with engine.connect() as conn:
        m = Management(conn, Actor.service())
        orders: tuple[OrgOrder, ...] = ("CREATED_AT_ASC", "CREATED_AT_DESC", "NAME")
        for order in orders:
            variants = _paging_variants(m, conn, order)
            for name, fetch in variants.items():
                fetch(0), fetch(DEEP_PAGE)  # warm the cache
                first = median_of(functools.partial(fetch, 0))
                deep = median_of(functools.partial(fetch, DEEP_PAGE))
                print(f"{order:16} {name:22} {_ms(first):>10} {_ms(deep):>10} {deep / first:6.2f}")
            conn.rollback()
    _check_pages_agree(engine)


def _paging_variants(
    m: Management, conn: Connection, order: OrgOrder
) -> dict[str, Callable[[int], object]]:
    def with_total(n: int) -> object:
        return m.orgs.query(page=PageRequest(PAGE_SIZE, n), order_by=order)

    def rows_only(n: int) -> object:
        return m.orgs.query(page=PageRequest(PAGE_SIZE, n), order_by=order, with_total=False)

    def naive(n: int) -> object:
        return conn.execute(
            text(
                f"SELECT * FROM tenantkit.orgs ORDER BY {NAIVE[order]} "
                f"LIMIT {PAGE_SIZE} OFFSET {n * PAGE_SIZE}"
            )
        ).all()

    return {
        "Orgs.query (+ total)": with_total,
        "Orgs.query rows only": rows_only,
        "naive OFFSET (rows)": naive,
    }


def _check_pages_agree(engine: Engine) -> None:
    # The keyset page must be exactly the OFFSET page.
    with engine.connect() as conn:
        m = Management(conn, Actor.service())
        orders: tuple[OrgOrder, ...] = ("CREATED_AT_ASC", "CREATED_AT_DESC", "NAME")
        for order in orders:
            keyset = [
                o.org_id
                for o in m.orgs.query(
                    page=PageRequest(PAGE_SIZE, DEEP_PAGE),
                    order_by=order,
                    with_total=False,
                ).items
            ]
            naive = (
                conn.execute(
                    text(
                        f"SELECT org_id::text FROM tenantkit.orgs ORDER BY {NAIVE[order]} "
                        f"LIMIT {PAGE_SIZE} OFFSET {DEEP_PAGE * PAGE_SIZE}"
                    )
                )
                .scalars()
                .all()
            )
            assert keyset == list(naive), f"{order}: keyset page differs from OFFSET page"


def main() -> None:
    with bench_database() as db:
        engine = sqlalchemy.create_engine(db.url("service"))
        try:
            create_orgs(engine)
            fill_orgs(db.conninfo("owner"))
            paging(engine)
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
