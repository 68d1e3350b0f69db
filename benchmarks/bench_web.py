"""Issue 5 benchmark: requests per second of one tenant-scoped query over real HTTP.

Two FastAPI endpoints in one uvicorn process (its own core), loaded side by side
by one client process on loopback, in alternating blocks:

- tenantkit: TenantMiddleware (bearer token, verified-token cache, org from the
  path, membership check), the `tk.async_session` dependency (one bound
  transaction), and the query with no WHERE: row-level security scopes it;
- baseline: no auth, a plain AsyncSession in one transaction, and the same
  query with an explicit `WHERE org_id = :org`, as the table owner (the table
  has tenantkit's generated policies, with FORCE turned off afterwards so that
  the owner's explicit filter is all the baseline has).

Query: the org's 10 newest items, through the (org_id, id) primary key, out of
200 orgs x 500 rows. Target: tenantkit >= 0.85x the baseline's requests/sec.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints'
# Annotated[..., Depends(...)] hints when they are defined, inside _serve.

import asyncio
import multiprocessing
import os
import socket
import statistics
import time
import uuid
from typing import Annotated, Any

import httpx
import psycopg

from benchmarks._support import add_orgs_with_one_member, bench_database
from tenantkit.rls import TableName, TenancySpec, tenancy_script

ORGS = 200
ROWS_PER_ORG = 500
CONCURRENCY = int(os.environ.get("TENANTKIT_BENCH_WEB_CONCURRENCY", "8"))
BLOCK_SECONDS = float(os.environ.get("TENANTKIT_BENCH_WEB_BLOCK", "2.0"))
ROUNDS = int(os.environ.get("TENANTKIT_BENCH_WEB_ROUNDS", "8"))
WARMUP_SECONDS = 2.0
TARGET = 0.85

SETUP = """
CREATE TABLE public.web_items (
    org_id uuid NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, title text NOT NULL,
    PRIMARY KEY (org_id, id));
"""
# The policies tenantkit generates for a tenant table (any member may read).
POLICIES = TenancySpec(default_to_bound_org=False, refuse_tenant_change=False)
TENANT_QUERY = "SELECT id, title FROM public.web_items ORDER BY id DESC LIMIT 10"
BASELINE_QUERY = (
    "SELECT id, title FROM public.web_items WHERE org_id = :org ORDER BY id DESC LIMIT 10"
)


def _serve(app_url: str, owner_url: str, issuer: str, public_key_pem: str, port: int) -> None:
    """The server process: both endpoints in one app, uvicorn on 127.0.0.1."""
    # Imported here, so the client process stays lean.
    import uvicorn
    from fastapi import Depends, FastAPI
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.ext.asyncio import create_async_engine as plain_async_engine
    from starlette.applications import Starlette
    from starlette.routing import Mount

    import tenantkit
    from tenantkit.tokens import TokenVerifier
    from tenantkit.web import TenantMiddleware, path_param
    from tenantkit.web.fastapi import TenantKit

    verifier = TokenVerifier(issuer=issuer, public_key_pem=public_key_pem)
    tk_engine = tenantkit.create_async_engine(app_url, pool_size=10, max_overflow=0)
    plain_engine = plain_async_engine(owner_url, pool_size=10, max_overflow=0)
    tk = TenantKit(verifier, async_sessions=async_sessionmaker(tk_engine))
    plain_sessions = async_sessionmaker(plain_engine)

    tk_app = FastAPI()
    tk.init_app(tk_app)

    @tk_app.get("/org/{org_id}/items")
    async def tenant_items(
        org_id: uuid.UUID, session: Annotated[AsyncSession, Depends(tk.async_session)]
    ) -> list[dict[str, Any]]:
        rows = await session.execute(text(TENANT_QUERY))
        return [{"id": row.id, "title": row.title} for row in rows]

    async def plain_session() -> Any:
        async with plain_sessions() as session, session.begin():
            yield session

    plain_app = FastAPI()

    @plain_app.get("/org/{org_id}/items")
    async def baseline_items(
        org_id: uuid.UUID, session: Annotated[AsyncSession, Depends(plain_session)]
    ) -> list[dict[str, Any]]:
        rows = await session.execute(text(BASELINE_QUERY), {"org": org_id})
        return [{"id": row.id, "title": row.title} for row in rows]

    guarded = TenantMiddleware(tk_app, verifier=verifier, org_id=path_param("/org/{org_id}"))
    root = Starlette(routes=[Mount("/tk", app=guarded), Mount("/plain", app=plain_app)])
    uvicorn.run(root, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _load(
    client: httpx.AsyncClient, paths: list[tuple[str, dict[str, str]]], seconds: float
) -> tuple[int, float, list[float]]:
    """CONCURRENCY workers cycling through `paths` for `seconds`: (count, elapsed, latencies)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    position = 0

    async def worker() -> None:
        nonlocal position
        while time.perf_counter() < deadline:
            path, headers = paths[position % len(paths)]
            position += 1
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(latencies), time.perf_counter() - started, latencies


async def _measure(base_url: str, variants: dict[str, list[tuple[str, dict[str, str]]]]) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        for paths in variants.values():  # warm both: pools, caches, JIT-free but cold paths
            await _load(client, paths, WARMUP_SECONDS)
        totals: dict[str, list[float]] = {name: [0, 0.0] for name in variants}
        latencies: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for r in range(ROUNDS):
            for i in range(len(names)):
                name = names[(r + i) % len(names)]  # rotate who goes first
                count, elapsed, samples = await _load(client, variants[name], BLOCK_SECONDS)
                totals[name][0] += count
                totals[name][1] += elapsed
                latencies[name] += samples
    print(
        f"\nrequests/sec over HTTP on loopback ({CONCURRENCY} concurrent, "
        f"{ROUNDS} rounds x {BLOCK_SECONDS:.0f} s per variant, interleaved)"
    )
    rps = {}
    for name in names:
        done, seconds = totals[name]
        rps[name] = done / seconds
        ordered = sorted(latencies[name])
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000
        print(f"  {name:<10} {rps[name]:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    ratio = rps["tenantkit"] / rps["baseline"]
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  ratio tenantkit / baseline = {ratio:.3f}  (target >= {TARGET:.2f}: {verdict})")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(port: int, process: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError("the benchmark server exited")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")


def main() -> None:
    from tenantkit.tokens import OrgMemberInfo, TokenIssuer

    with bench_database() as db:
        print(f"setting up {ORGS * ROWS_PER_ORG:,} rows in {ORGS} orgs ...", flush=True)
        with psycopg.connect(db.conninfo("owner"), autocommit=True) as conn:
            conn.execute(SETUP)
            conn.execute(
                tenancy_script(TableName("web_items", "public"), POLICIES, role=db.roles.app)
            )
            # Only so that the owner baseline sees rows with its explicit filter.
            conn.execute("ALTER TABLE public.web_items NO FORCE ROW LEVEL SECURITY")
        org_ids, user_ids = add_orgs_with_one_member(db, ORGS, "Web")
        with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
            with conn.cursor().copy("COPY public.web_items (org_id, title) FROM STDIN") as copy:
                for n in range(ROWS_PER_ORG):
                    for org in org_ids:
                        copy.write_row((org, f"item {n}"))
            conn.execute("ANALYZE public.web_items")

        issuer = TokenIssuer.generate(issuer="https://bench.tenantkit.test")
        tenant_paths = []
        for org, user in zip(org_ids, user_ids, strict=True):
            token = issuer.issue(
                user_id=user, orgs=[OrgMemberInfo(org_id=org, user_role="Member")], lifetime=3600
            )
            tenant_paths.append((f"/tk/org/{org}/items", {"Authorization": f"Bearer {token}"}))
        no_headers: dict[str, str] = {}
        baseline_paths = [(f"/plain/org/{org}/items", no_headers) for org in org_ids]

        port = _free_port()
        render = db.url("app").render_as_string(hide_password=False)
        owner = db.url("owner").render_as_string(hide_password=False)
        spawn = multiprocessing.get_context("spawn")
        server = spawn.Process(
            target=_serve,
            args=(render, owner, issuer.issuer, issuer.public_key_pem, port),
            daemon=True,
        )
        server.start()
        try:
            _wait_for(port, server)
            asyncio.run(
                _measure(
                    f"http://127.0.0.1:{port}",
                    {"tenantkit": tenant_paths, "baseline": baseline_paths},
                )
            )
        finally:
            server.terminate()
            server.join(timeout=10)


if __name__ == "__main__":
    main()
