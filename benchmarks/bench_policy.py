"""Issue 17 benchmark: the cost of the live membership check, and plans for skewed tenants.

Data: 10,000 small orgs of 10 rows each and one whale org of 10,000 rows
(1,000x the median) in `policy_items`, a tenant table with the policies
tenantkit generates (default rules), plus `policy_legacy`, the same rows under
the pre-0005 isolation policy `(SELECT tenantkit.current_org_id())`. FORCE is
off on both only so that the owner baseline reads them.

(1) Per-statement server cost, from pg_stat_statements (mean execution time,
    the server's own account, no network or client): pk lookup and page of 50,
    the app role under RLS (new view-based policy, and the legacy one) against
    the owner's explicit `WHERE org_id = $1`. Target: <= 20 us above.
(2) Peer-style request, a SQLAlchemy Session, a page of 50 ORM rows, a commit;
    variants in a new random order every round: the owner with an explicit
    WHERE (unbound), tenantkit, tenantkit with the ORM tenant filter, and the
    after_begin set_config pattern (fastapi-tenancy/PostgREST style: a second
    statement after BEGIN). Ratios against the owner.
(3) Whale and small org: buffers and execution time of the page of 50 from
    EXPLAIN (ANALYZE, BUFFERS), for the owner's explicit WHERE, tenantkit's
    policy alone and tenantkit with the filter; request latency interleaved.
    Target: the filter within 10% of the explicit WHERE.
(4) Growth: the tenantkit pk request with 10,001 orgs and, in a second
    database on the same server, 100,001, interleaved.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from sqlalchemy import Text, Uuid, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import tenantkit
from benchmarks._support import (
    add_orgs_with_one_member,
    bench_database,
    enable_pg_stat_statements,
    interleave,
    pinned_to_one_cpu,
    report,
    reset_statement_costs,
    statement_costs,
)
from tenantkit import TenantContext, migrate, tenant_context
from tenantkit.db import tenant_filter
from tenantkit.rls import TableName, TenancySpec, legacy_isolation_policy, tenancy_script
from tenantkit.testing import TestDatabase, provision_database

SMALL_ORGS = 10_000
SMALL_ROWS = 10
WHALE_ROWS = SMALL_ROWS * 1000
ROUNDS = int(os.environ.get("TENANTKIT_BENCH_ROUNDS", "2000"))
WARMUP = 200
STATEMENTS = 3000


class Base(DeclarativeBase):
    pass


@tenantkit.tenant_table(default_to_bound_org=False, refuse_tenant_change=False)
class Item(Base):
    __tablename__ = "policy_items"
    __table_args__ = {"schema": "public"}

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)


SETUP = """
CREATE TABLE public.policy_items (
    org_id uuid NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, title text NOT NULL,
    PRIMARY KEY (org_id, id));
CREATE TABLE public.policy_legacy (LIKE public.policy_items INCLUDING ALL);
"""
SPEC = TenancySpec(default_to_bound_org=False, refuse_tenant_change=False)


def main() -> None:
    with bench_database() as db:
        pgss = enable_pg_stat_statements(db)
        print(f"pg_stat_statements: {'on' if pgss else 'unavailable'}")
        contexts, whale, pk_of = _setup(db)
        bound = tenantkit.create_engine(db.url("app"), pool_size=1)
        owner = sa.create_engine(db.url("owner"), pool_size=1)
        peer = sa.create_engine(db.url("app"), pool_size=1)
        _after_begin_pattern(peer)
        try:
            with pinned_to_one_cpu(db) as pinned:
                print("client and server pinned to one CPU" if pinned else "not pinned")
                if pgss:
                    _server_cost(db, contexts, pk_of)
                _request(bound, owner, peer, contexts)
                _whale(db, bound, owner, contexts[0], whale)
                _growth(db, bound, contexts, pk_of)
        finally:
            for engine in (bound, owner, peer):
                engine.dispose()


def _setup(db: TestDatabase) -> tuple[list[TenantContext], TenantContext, dict[str, int]]:
    total = SMALL_ORGS * SMALL_ROWS + WHALE_ROWS
    print(f"setting up {total:,} rows: {SMALL_ORGS:,} orgs of {SMALL_ROWS} and one of "
          f"{WHALE_ROWS:,} ...", flush=True)
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(SETUP)
        conn.execute(tenancy_script(TableName("policy_items", "public"), SPEC, role=db.roles.app))
        conn.execute(tenancy_script(TableName("policy_legacy", "public"), SPEC, role=db.roles.app))
        legacy = legacy_isolation_policy("org_id")
        conn.execute("DROP POLICY tenantkit_isolation ON public.policy_legacy")
        conn.execute(
            f'CREATE POLICY tenantkit_isolation ON public.policy_legacy AS RESTRICTIVE FOR ALL '
            f'TO "{db.roles.app}" USING ({legacy.using}) WITH CHECK ({legacy.with_check})'
        )
        for table in ("policy_items", "policy_legacy"):
            conn.execute(f"ALTER TABLE public.{table} NO FORCE ROW LEVEL SECURITY")
    org_ids, user_ids = add_orgs_with_one_member(db, SMALL_ORGS + 1, "Policy")
    whale_org = org_ids[-1]
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE o (n int, org_id uuid, rows int)")
        with conn.cursor().copy("COPY o FROM STDIN") as copy:
            for i, org in enumerate(org_ids):
                copy.write_row((i, org, WHALE_ROWS if org == whale_org else SMALL_ROWS))
        # Interleaved ids: an org's rows are scattered over the heap, as in real use.
        conn.execute(
            "INSERT INTO public.policy_items (org_id, title) "
            "SELECT o.org_id, 'item ' || g || ' of ' || o.n FROM o, generate_series(1, o.rows) g "
            "ORDER BY g, o.n"
        )
        conn.execute(
            "INSERT INTO public.policy_legacy (org_id, title) "
            "SELECT org_id, title FROM public.policy_items ORDER BY id"
        )
        conn.execute("VACUUM ANALYZE public.policy_items")
        conn.execute("VACUUM ANALYZE public.policy_legacy")
        rows = conn.execute(
            "SELECT org_id::text, max(id) FROM public.policy_items GROUP BY org_id"
        ).fetchall()
    pk_of = {str(org): int(pk) for org, pk in rows}
    contexts = [TenantContext(u, o) for u, o in zip(user_ids, org_ids, strict=True)][:-1]
    return contexts, TenantContext(user_ids[-1], whale_org), pk_of


# --- (1) per-statement server cost ---------------------------------------------------


def _server_cost(db: TestDatabase, contexts: list[TenantContext], pk_of: dict[str, int]) -> None:
    def pk_params(c: TenantContext) -> tuple[object, ...]:
        return (pk_of[c.org_id],)

    def no_params(c: TenantContext) -> tuple[object, ...]:
        return ()

    queries: dict[str, tuple[str, Callable[[TenantContext], tuple[object, ...]]]] = {
        "pk": ("SELECT title FROM public.{t} WHERE {w}id = %s", pk_params),
        "page50": ("SELECT id, title FROM public.{t} {where} ORDER BY id DESC LIMIT 50",
                   no_params),
    }
    rng = random.Random(7)
    reset_statement_costs(db)
    with psycopg.connect(db.conninfo("owner")) as own, psycopg.connect(db.conninfo("app")) as app:
        for _ in range(STATEMENTS // 100):
            ctx = contexts[rng.randrange(len(contexts))]
            app.execute(
                "SELECT set_config('tenantkit.user_id', %s, true), "
                "set_config('tenantkit.org_id', %s, true), set_config('tenantkit.bound', "
                "EXTRACT(epoch FROM now())::numeric::text, true)",
                (ctx.user_id, ctx.org_id),
            )
            for _ in range(100):
                for template, params in queries.values():
                    explicit = template.format(t="policy_items", w="org_id = %s AND ",
                                               where="WHERE org_id = %s")
                    own.execute(explicit, (ctx.org_id, *params(ctx)), prepare=True).fetchall()
                    for table in ("policy_items", "policy_legacy"):
                        rls = template.format(t=table, w="", where="")
                        app.execute(rls, params(ctx), prepare=True).fetchall()
            app.commit()
            own.commit()
    rows = statement_costs(db, "%public.policy_%")
    costs = {q: exec_us for q, _, exec_us, _ in rows}
    print("\n(1) per-statement server cost (pg_stat_statements mean execution time)")
    for name, (template, _) in queries.items():
        def cost(table: str, explicit: bool, template: str = template, name: str = name) -> float:
            sql = template.format(
                t=table, w="org_id = $1 AND " if explicit else "",
                where="WHERE org_id = $1" if explicit else "",
            )
            # pg_stat_statements normalises constants: numbering follows the query.
            sql = sql.replace("%s", "$2" if explicit else "$1")
            if name == "page50":
                sql = sql.replace("LIMIT 50", "LIMIT $2" if explicit else "LIMIT $1")
            if sql not in costs:
                print(f"  (not in pg_stat_statements: {sql!r}; have {sorted(costs)})")
            return costs.get(sql, float("nan"))

        owner_us = cost("policy_items", True)
        new_us = cost("policy_items", False)
        legacy_us = cost("policy_legacy", False)
        verdict = "meets" if new_us - owner_us <= 20 else "MISSES"
        print(f"  {name:<7} owner explicit WHERE {owner_us:7.1f} us | tenantkit {new_us:7.1f} us "
              f"(+{new_us - owner_us:.1f}, target <= 20: {verdict}) | pre-0005 policy "
              f"{legacy_us:7.1f} us (+{legacy_us - owner_us:.1f})")


# --- (2) peer-style request, shuffled ----------------------------------------------


def _after_begin_pattern(engine: sa.Engine) -> None:
    # What fastapi-tenancy and PostgREST-style setups do: a statement after BEGIN
    # (here with tenantkit's three settings, so the same policies pass).
    @event.listens_for(Session, "after_begin")
    def _bind(session: Session, transaction: object, connection: sa.Connection) -> None:
        if connection.engine is not engine:
            return
        ctx = session.info.get("ctx")
        if isinstance(ctx, TenantContext):
            connection.execute(
                text("SELECT set_config('tenantkit.user_id', :u, true), "
                     "set_config('tenantkit.org_id', :o, true), set_config('tenantkit.bound', "
                     "EXTRACT(epoch FROM now())::numeric::text, true)"),
                {"u": ctx.user_id, "o": ctx.org_id},
            )


def _request(
    bound: sa.Engine, owner: sa.Engine, peer: sa.Engine, contexts: list[TenantContext]
) -> None:
    # Statements built once, as an app's module-level queries are (SQLAlchemy
    # then reuses their cache keys); the owner's org is a bound parameter.
    page = sa.select(Item).order_by(Item.id.desc()).limit(50)
    owner_page = (
        sa.select(Item).where(Item.org_id == sa.bindparam("org", type_=Uuid))
        .order_by(Item.id.desc()).limit(50)
    )

    def owner_where(k: int) -> None:
        ctx = contexts[k]
        with Session(owner) as s:
            s.scalars(owner_page, {"org": uuid.UUID(ctx.org_id)}).all()
            s.commit()

    def tk(k: int) -> None:
        with tenant_context(contexts[k]), Session(
            bound, info={tenant_filter.FILTER_OPTION: False}
        ) as s:
            s.scalars(page).all()
            s.commit()

    def tk_filter(k: int) -> None:
        with tenant_context(contexts[k]), Session(bound) as s:
            s.scalars(page).all()
            s.commit()

    def after_begin(k: int) -> None:
        with Session(peer, info={"ctx": contexts[k]}) as s:
            s.scalars(page).all()
            s.commit()

    timings = interleave(
        [("owner_explicit_where", owner_where), ("tenantkit", tk),
         ("tenantkit_filter", tk_filter), ("after_begin_set_config", after_begin)],
        rounds=ROUNDS, warmup=WARMUP, keys=len(contexts), shuffle=True,
    )
    report(
        "(2) request: Session, page of 50 ORM rows, commit (variants shuffled every round)",
        timings,
        [("tenantkit", "owner_explicit_where", 1.10),
         ("tenantkit_filter", "owner_explicit_where", 1.10),
         ("after_begin_set_config", "owner_explicit_where", 1.10)],
    )


# --- (3) whale and small org ---------------------------------------------------------


def _explain(conn: psycopg.Connection[tuple[object, ...]], sql: str,
             params: tuple[object, ...]) -> tuple[int, float]:
    row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    doc = row[0] if isinstance(row[0], list) else json.loads(str(row[0]))
    plan = doc[0]["Plan"]
    buffers = int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))
    return buffers, float(doc[0]["Execution Time"]) * 1000


def _whale(db: TestDatabase, bound: sa.Engine, owner: sa.Engine, small: TenantContext,
           whale: TenantContext) -> None:
    page = "SELECT id, title FROM public.policy_items {w} ORDER BY id DESC LIMIT 50"
    print(f"\n(3) whale ({WHALE_ROWS:,} rows) and small org ({SMALL_ROWS} rows), page of 50: "
          "EXPLAIN ANALYZE "
          "(median of 21)")
    for label, ctx in (("whale", whale), ("small", small)):
        results: dict[str, tuple[list[int], list[float]]] = {}
        with psycopg.connect(db.conninfo("owner")) as own, \
                psycopg.connect(db.conninfo("app")) as app:
            app.execute(
                "SELECT set_config('tenantkit.user_id', %s, true), "
                "set_config('tenantkit.org_id', %s, true), set_config('tenantkit.bound', "
                "EXTRACT(epoch FROM now())::numeric::text, true)",
                (ctx.user_id, ctx.org_id),
            )
            variants = [
                ("owner_explicit_where", own, page.format(w="WHERE org_id = %s"), (ctx.org_id,)),
                ("tenantkit_policy", app, page.format(w=""), ()),
                ("tenantkit_filter", app, page.format(w="WHERE org_id = %s"), (ctx.org_id,)),
            ]
            for _ in range(21):
                for name, conn, sql, params in variants:
                    b, us = _explain(conn, sql, params)
                    results.setdefault(name, ([], []))[0].append(b)
                    results[name][1].append(us)
        base_b = sorted(results["owner_explicit_where"][0])[10]
        base_us = sorted(results["owner_explicit_where"][1])[10]
        for name, (bufs, times) in results.items():
            b, us = sorted(bufs)[10], sorted(times)[10]
            print(f"  {label} {name:<22} buffers {b:6d} ({b / base_b:5.2f}x)   "
                  f"execution {us:8.1f} us ({us / base_us:5.2f}x)")

    def request(ctx: TenantContext, filtered: bool) -> Callable[[int], None]:
        orm_page = sa.select(Item).order_by(Item.id.desc()).limit(50)

        def run(k: int) -> None:
            info = {} if filtered else {tenant_filter.FILTER_OPTION: False}
            with tenant_context(ctx), Session(bound, info=info) as s:
                s.scalars(orm_page).all()
                s.commit()

        return run

    def owner_request(ctx: TenantContext) -> Callable[[int], None]:
        orm_page = sa.select(Item).where(Item.org_id == sa.bindparam("org", type_=Uuid))
        orm_page = orm_page.order_by(Item.id.desc()).limit(50)
        org = uuid.UUID(ctx.org_id)

        def run(k: int) -> None:
            with Session(owner) as s:
                s.scalars(orm_page, {"org": org}).all()
                s.commit()

        return run

    for label, ctx in (("whale", whale), ("small", small)):
        timings = interleave(
            [("owner_explicit_where", owner_request(ctx)),
             ("tenantkit_policy", request(ctx, False)),
             ("tenantkit_filter", request(ctx, True))],
            rounds=ROUNDS // 2, warmup=WARMUP, shuffle=True,
        )
        report(f"(3) {label} org request: Session, page of 50, commit", timings,
               [("tenantkit_filter", "owner_explicit_where", 1.10),
                ("tenantkit_policy", "owner_explicit_where", 1.10)])


# --- (4) growth ----------------------------------------------------------------------


def _growth(db: TestDatabase, bound: sa.Engine, contexts: list[TenantContext],
            pk_of: dict[str, int]) -> None:
    # A second database on the same server, the same data plus 90,000 more orgs
    # (one member each): both sizes side by side, interleaved.
    print("\n(4) growth: a second database with 100,001 orgs ...", flush=True)
    big = provision_database(db.server)
    migrate.upgrade(big.url("owner"), roles=big.roles, signed_binding=False)  # as `db`
    big_contexts, _, big_pk_of = _setup(big)
    add_orgs_with_one_member(big, 90_000, "Growth")
    big_engine = tenantkit.create_engine(big.url("app"), pool_size=1)
    pk = sa.select(Item.title).where(Item.id == sa.bindparam("id"))

    def request(engine: sa.Engine, ctxs: list[TenantContext],
                pks: dict[str, int]) -> Callable[[int], None]:
        def run(k: int) -> None:
            ctx = ctxs[k]
            with tenant_context(ctx), Session(engine) as s:
                s.execute(pk, {"id": pks[ctx.org_id]}).all()
                s.commit()

        return run

    try:
        reset_statement_costs(db)
        timings = interleave(
            [("orgs_10k", request(bound, contexts, pk_of)),
             ("orgs_100k", request(big_engine, big_contexts, big_pk_of))],
            rounds=ROUNDS, warmup=WARMUP, keys=len(contexts), shuffle=True,
        )
        report("(4) growth: tenantkit pk request, 10,001 vs 100,001 orgs", timings,
               [("orgs_100k", "orgs_10k", 1.10)])
        small_cost, large_cost = _pk_cost(db, db.name), _pk_cost(db, big.name)
        print(f"  server execution per pk statement: {small_cost:.1f} us with 10,001 orgs, "
              f"{large_cost:.1f} us with 100,001 ({large_cost / small_cost:.3f}x)")
    finally:
        big_engine.dispose()
        if not db.server.throwaway:
            big.drop()


def _pk_cost(db: TestDatabase, database: str) -> float:
    rows = statement_costs(db, "SELECT public.policy_items.title %", database=database)
    return max((exec_us for _, calls, exec_us, _ in rows if calls > 100), default=float("nan"))


if __name__ == "__main__":
    main()
