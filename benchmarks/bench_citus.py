"""Issue 11 benchmark: tenantkit on a Citus cluster (coordinator + 2 workers).

(1) The same request, a bound page of 50 ORM rows in a SQLAlchemy Session and a
    commit, on the Citus cluster (tenant table distributed by org_id, Citus
    flavour, `binding="set_local"`) vs on plain PostgreSQL (plain flavour, the
    default binding); interleaved, medians, ratio Citus / PostgreSQL.
(2) On the cluster, the router query (the ORM tenant filter: one shard) vs the
    fan-out query (filter off: every shard, RLS keeping the other orgs out);
    interleaved, ratio fan-out / router.

Skips with one line when no Citus build is available (`make citus`).
Data: 200 orgs with one Member each, 100 rows per org.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import Text, Uuid, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import tenantkit
from benchmarks._support import add_orgs_with_one_member, bench_database, interleave, report
from tenantkit import TenantContext, migrate, tenant_context
from tenantkit.db import tenant_filter
from tenantkit.rls import Flavour, TableName, TenancySpec, tenancy_statements
from tenantkit.tables import Target, declaration_of, distribute, tenant_table
from tenantkit.testing import TestDatabase
from tenantkit.testing.citus import find_citus_bindir, provision_citus_database, start_citus_cluster

ORGS = 200
ROWS = 100
ROUNDS = int(os.environ.get("TENANTKIT_BENCH_CITUS_ROUNDS", "400"))
WARMUP = 40


def _model(flavour: Flavour) -> type:
    class Base(DeclarativeBase):
        pass

    @tenant_table(flavour=flavour)
    class Item(Base):
        __tablename__ = "bench_items"

        org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
        id: Mapped[uuid.UUID] = mapped_column(
            primary_key=True, server_default=text("gen_random_uuid()")
        )
        title: Mapped[str] = mapped_column(Text)

    return Item


def _prepare(db: TestDatabase, model: type, *, citus: bool) -> list[TenantContext]:
    table = model.__table__  # type: ignore[attr-defined]
    owner = sa.create_engine(db.url("owner"), poolclass=sa.NullPool)
    with owner.begin() as conn:
        table.create(conn)
        spec = declaration_of(table)
        assert isinstance(spec, TenancySpec)
        for statement in tenancy_statements(TableName(table.name), spec, role=db.roles.app):
            conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
        if citus:
            distribute(conn, [Target(TableName(table.name), "org_id")])
    owner.dispose()
    org_ids, user_ids = add_orgs_with_one_member(db, ORGS, "Bench")
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        for org in org_ids:
            conn.execute(
                "INSERT INTO bench_items (org_id, title) SELECT %s, 'item ' || i "
                "FROM generate_series(1, %s) AS i",
                (org, ROWS),
            )
        conn.execute("ANALYZE bench_items")
    return [TenantContext(u, o) for u, o in zip(user_ids, org_ids, strict=True)]


def _page(engine: sa.Engine, model: type, contexts: list[TenantContext], *, filtered: bool
          ) -> Callable[[int], object]:
    query: Any = select(model).order_by(model.id).limit(50)  # type: ignore[attr-defined]

    def run(key: int) -> object:
        with tenant_context(contexts[key % len(contexts)]), Session(engine) as session:
            if not filtered:
                tenant_filter.disable(session)
            with session.begin():
                rows = session.scalars(query).all()
        assert len(rows) == 50
        return rows

    return run


@contextmanager
def _citus_database() -> Iterator[TestDatabase | None]:
    bindir, why = find_citus_bindir()
    if bindir is None:
        print(f"skipped: no Citus build ({why})")
        yield None
        return
    cluster = start_citus_cluster(bindir)
    try:
        db = provision_citus_database(cluster)
        migrate.upgrade(db.url("owner"), roles=db.roles)
        yield db
    finally:
        cluster.stop()


def main() -> None:
    random.seed(11)
    with _citus_database() as citus_db:
        if citus_db is None:
            return
        citus_model = _model("citus")
        citus_contexts = _prepare(citus_db, citus_model, citus=True)
        citus_engine = tenantkit.create_engine(citus_db.url("app"), binding="set_local")
        with bench_database() as plain_db:
            plain_model = _model("postgres")
            plain_contexts = _prepare(plain_db, plain_model, citus=False)
            plain_engine = tenantkit.create_engine(plain_db.url("app"))
            same = interleave(
                [
                    ("citus: bound page of 50", _page(citus_engine, citus_model,
                                                      citus_contexts, filtered=True)),
                    ("postgres: bound page of 50", _page(plain_engine, plain_model,
                                                         plain_contexts, filtered=True)),
                ],
                rounds=ROUNDS,
                warmup=WARMUP,
                keys=ORGS,
                shuffle=True,
            )
            plain_engine.dispose()
        report(
            "(1) the same request (Session, page of 50 ORM rows, commit): Citus cluster vs "
            "plain PostgreSQL",
            same,
            [("citus: bound page of 50", "postgres: bound page of 50", 3.0)],
        )
        routing = interleave(
            [
                ("router (tenant filter, 1 shard)", _page(citus_engine, citus_model,
                                                          citus_contexts, filtered=True)),
                ("fan-out (no filter, 32 shards)", _page(citus_engine, citus_model,
                                                         citus_contexts, filtered=False)),
            ],
            rounds=ROUNDS,
            warmup=WARMUP,
            keys=ORGS,
            shuffle=True,
        )
        citus_engine.dispose()
        report(
            "(2) on the Citus cluster, bound page of 50: router query vs fan-out query",
            routing,
            [("fan-out (no filter, 32 shards)", "router (tenant filter, 1 shard)", 100.0)],
        )


if __name__ == "__main__":
    main()
