"""Issue 10 benchmark: signed binding vs unsigned, side by side.

Two databases on one server with the same data (200 orgs of 500 rows in a
generated tenant table, one member each): one with signing off and an
unsigned engine, one with signing on and an engine signing with a key. Each
request: a Session, BEGIN + bind, a page of 50, COMMIT; the two variants in a
random order every round. The signed one pays the HMAC in Python (once per 15 s
per context, cached) and, on the server, two sha256() calls and a key probe in
the policy's InitPlan once per statement.
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
from tenantkit import TenantContext, migrate, tenant_context
from tenantkit.db.signing import BindingKey, BindingSigner, add_key, set_signing
from tenantkit.rls import TableName, TenancySpec, tenancy_script
from tenantkit.testing import TestDatabase, provision_database

ORGS = 200
ROWS_PER_ORG = 500
ROUNDS = int(os.environ.get("TENANTKIT_BENCH_ROUNDS", "3000"))
WARMUP = 300
PAGE = sa.text("SELECT id, title FROM public.sign_items ORDER BY id DESC LIMIT 50")


def _fill(db: TestDatabase) -> list[TenantContext]:
    with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.sign_items (org_id uuid NOT NULL, "
            "id bigint GENERATED ALWAYS AS IDENTITY, title text NOT NULL, "
            "PRIMARY KEY (org_id, id))"
        )
        conn.execute(
            tenancy_script(
                TableName("sign_items", "public"),
                TenancySpec(default_to_bound_org=False, refuse_tenant_change=False),
                role=db.roles.app,
            )
        )
    org_ids, user_ids = add_orgs_with_one_member(db, ORGS, "Sign")
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.sign_items (org_id, title) "
            "SELECT o, 'item ' || g FROM generate_series(1, %s) g, unnest(%s::uuid[]) o "
            "ORDER BY g",
            (ROWS_PER_ORG, org_ids),
        )
        conn.execute("VACUUM ANALYZE public.sign_items")
    return [TenantContext(u, o) for u, o in zip(user_ids, org_ids, strict=True)]


def main() -> None:
    with bench_database() as unsigned_db:
        signed_db = provision_database(unsigned_db.server)
        migrate.upgrade(signed_db.url("owner"), roles=signed_db.roles)
        key = BindingKey.generate("bench")
        with psycopg.connect(signed_db.conninfo("owner"), autocommit=True) as conn:
            add_key(conn, key)
            set_signing(conn, True)
        print(f"setting up {ORGS * ROWS_PER_ORG:,} rows in {ORGS} orgs, twice ...", flush=True)
        unsigned_ctx = _fill(unsigned_db)
        signed_ctx = _fill(signed_db)
        unsigned = tenantkit.create_engine(unsigned_db.url("app"), pool_size=1, signer=None)
        signed = tenantkit.create_engine(
            signed_db.url("app"), pool_size=1, signer=BindingSigner([key])
        )
        try:
            with pinned_to_one_cpu(unsigned_db) as pinned:
                print("client and server pinned to one CPU" if pinned else "not pinned")
                _check(signed, signed_ctx[0])

                def run_unsigned(k: int) -> None:
                    with tenant_context(unsigned_ctx[k]), Session(unsigned) as s:
                        s.execute(PAGE).all()
                        s.commit()

                def run_signed(k: int) -> None:
                    with tenant_context(signed_ctx[k]), Session(signed) as s:
                        s.execute(PAGE).all()
                        s.commit()

                timings = interleave(
                    [("unsigned", run_unsigned), ("signed", run_signed)],
                    rounds=ROUNDS, warmup=WARMUP, keys=ORGS, shuffle=True,
                )
                report(
                    "signed vs unsigned binding: Session, BEGIN + bind, page of 50, COMMIT",
                    timings,
                    [("signed", "unsigned", 1.05)],
                )
        finally:
            unsigned.dispose()
            signed.dispose()
            if not unsigned_db.server.throwaway:
                signed_db.drop()


def _check(engine: sa.Engine, ctx: TenantContext) -> None:
    # The signed engine really reads rows (a broken signature would read none).
    with tenant_context(ctx), Session(engine) as s:
        count = s.execute(sa.text("SELECT count(*) FROM public.sign_items")).scalar_one()
    assert count == ROWS_PER_ORG, count


if __name__ == "__main__":
    main()
