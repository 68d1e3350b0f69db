"""Issue 2 benchmark: the cost of binding and of the tenant policy.

Data: 1,000,000 rows across 1,000 orgs (ids interleaved, so an org's rows are
scattered), in `bench_items`, protected by the policies tenantkit generates for
a tenant table (`tenantkit.rls`, default rules: any member), built on
current_org_id(), which re-checks membership live. Every request is a
SQLAlchemy Session from a pooled engine: BEGIN + one indexed query + COMMIT.

(a) binding cost: the same query on an unprotected copy (`bench_plain`), as the
    app role, bound (tenantkit engine + context) vs unbound (plain engine).
(b) policy cost: the RLS-scoped query as the app role (bound, no WHERE) vs the
    same query with an explicit `WHERE org_id = :org` as the owner. FORCE is
    turned off on this one table after generation, only so that the owner
    baseline sees its rows; the app role's policies are unchanged.
"""

from __future__ import annotations

import os

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

import tenantkit
from benchmarks._support import (
    add_orgs_with_one_member,
    bench_database,
    interleave,
    pinned_to_one_cpu,
    report,
)
from tenantkit import TenantContext, tenant_context
from tenantkit.rls import TableName, TenancySpec, tenancy_script

ORGS = 1000
ROWS_PER_ORG = 1000
ROUNDS = int(os.environ.get("TENANTKIT_BENCH_ROUNDS", "3000"))
WARMUP = 300

SETUP = """
CREATE TABLE public.bench_items (
    org_id uuid NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, title text NOT NULL,
    PRIMARY KEY (org_id, id));
CREATE TABLE public.bench_plain (LIKE public.bench_items INCLUDING ALL);
GRANT SELECT ON public.bench_plain TO {app};
"""
POLICIES = TenancySpec(default_to_bound_org=False, refuse_tenant_change=False)


def main() -> None:
    with bench_database() as db:
        app_role = f'"{db.roles.app}"'
        print(f"setting up {ORGS * ROWS_PER_ORG:,} rows in {ORGS:,} orgs ...", flush=True)
        with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
            conn.execute(SETUP.format(app=app_role))
            table = TableName("bench_items", "public")
            conn.execute(tenancy_script(table, POLICIES, role=db.roles.app))
            conn.execute("ALTER TABLE public.bench_items NO FORCE ROW LEVEL SECURITY")
        org_ids, user_ids = add_orgs_with_one_member(db, ORGS, "Bench")
        with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
            conn.execute("CREATE TEMP TABLE o (n int, org_id uuid)")
            with conn.cursor().copy("COPY o FROM STDIN") as copy:
                for i, org in enumerate(org_ids):
                    copy.write_row((i, org))
            conn.execute(
                "INSERT INTO public.bench_items (org_id, title) "
                "SELECT o.org_id, 'item ' || g || ' of ' || o.n "
                "FROM generate_series(1, %s) g CROSS JOIN o ORDER BY g, o.n",
                (ROWS_PER_ORG,),
            )
            conn.execute(
                "INSERT INTO public.bench_plain (org_id, title) "
                "SELECT org_id, title FROM public.bench_items ORDER BY id"
            )
            conn.execute("VACUUM ANALYZE public.bench_items")
            conn.execute("VACUUM ANALYZE public.bench_plain")
        contexts = [TenantContext(u, o) for u, o in zip(user_ids, org_ids, strict=True)]
        middle_ids = _middle_ids(db.conninfo("admin"), org_ids)

        bound_engine = tenantkit.create_engine(db.url("app"), pool_size=1)
        plain_app = sa.create_engine(db.url("app"), pool_size=1)
        owner = sa.create_engine(db.url("owner"), pool_size=1)
        try:
            with pinned_to_one_cpu(db) as pinned:
                print("client and server pinned to one CPU" if pinned else "not pinned")
                _binding_cost(bound_engine, plain_app, contexts)
                _policy_cost(bound_engine, owner, contexts, middle_ids)
        finally:
            for engine in (bound_engine, plain_app, owner):
                engine.dispose()


def _middle_ids(conninfo: str, org_ids: list[str]) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT org_id::text, (array_agg(id ORDER BY id))[%s] FROM public.bench_items "
            "GROUP BY org_id",
            (ROWS_PER_ORG // 2,),
        ).fetchall()
    by_org = {org: int(pk) for org, pk in rows}
    return [by_org[o] for o in org_ids]


PAGE_PLAIN = sa.text(
    "SELECT id, title FROM public.bench_plain WHERE org_id = :org ORDER BY id DESC LIMIT 50"
)


def _binding_cost(bound: sa.Engine, plain: sa.Engine, contexts: list[TenantContext]) -> None:
    def unbound(k: int) -> None:
        with Session(plain) as s:
            s.execute(PAGE_PLAIN, {"org": contexts[k].org_id}).all()
            s.commit()

    def bound_request(k: int) -> None:
        ctx = contexts[k]
        with tenant_context(ctx), Session(bound) as s:
            s.execute(PAGE_PLAIN, {"org": ctx.org_id}).all()
            s.commit()

    timings = interleave(
        [("unbound", unbound), ("bound", bound_request)], rounds=ROUNDS, warmup=WARMUP
    )
    report(
        "(a) binding cost: BEGIN + 50-row indexed page + COMMIT, app role, SQLAlchemy Session",
        timings,
        [("bound", "unbound", 1.05)],
    )


def _policy_cost(
    bound: sa.Engine, owner: sa.Engine, contexts: list[TenantContext], middle_ids: list[int]
) -> None:
    queries = {
        "page50": (
            "SELECT id, title FROM public.bench_items {where} ORDER BY id DESC LIMIT 50",
            lambda s, r: s.all(),
        ),
        "count": ("SELECT count(*) FROM public.bench_items {where}", lambda s, r: s.scalar_one()),
        "pk": (
            "SELECT title FROM public.bench_items {where_and} id = :id",
            lambda s, r: s.scalar_one(),
        ),
    }
    for name, (template, consume) in queries.items():
        rls = sa.text(template.format(where="", where_and="WHERE"))
        explicit = sa.text(
            template.format(where="WHERE org_id = :org", where_and="WHERE org_id = :org AND")
        )

        def owner_request(
            k: int, explicit: sa.TextClause = explicit, consume: object = consume
        ) -> None:
            with Session(owner) as s:
                consume(s.execute(explicit, {"org": contexts[k].org_id, "id": middle_ids[k]}), k)  # type: ignore[operator]
                s.commit()

        def rls_request(k: int, rls: sa.TextClause = rls, consume: object = consume) -> None:
            with tenant_context(contexts[k]), Session(bound) as s:
                consume(s.execute(rls, {"id": middle_ids[k]}), k)  # type: ignore[operator]
                s.commit()

        timings = interleave(
            [("owner_explicit_where", owner_request), ("app_rls", rls_request)],
            rounds=ROUNDS,
            warmup=WARMUP,
        )
        report(
            f"(b) policy cost, {name}: RLS as app role vs explicit WHERE as owner",
            timings,
            [("app_rls", "owner_explicit_where", 1.10)],
        )


if __name__ == "__main__":
    main()
