"""Shared benchmark plumbing: a throwaway database, interleaved timing, reporting.

Variants are timed round-robin within one run (the starting variant rotates
each round), so drift on a shared VM hits them all alike; ratios are of medians.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tenantkit import migrate
from tenantkit.testing import TestDatabase, provision_database
from tenantkit.testing.servers import (
    choose_server_from_environment,
    start_server,
)


@contextmanager
def bench_database() -> Iterator[TestDatabase]:
    """A fresh migrated database on the same server choice the tests use.

    Unsigned, as the figures in the README were measured (a new install signs
    by default since 0013; `bench_signing` compares the two side by side).
    """
    server = start_server(choose_server_from_environment())
    try:
        db = provision_database(server)
        migrate.upgrade(db.url("owner"), roles=db.roles, signed_binding=False)
        yield db
        if not server.throwaway:
            db.drop()
    finally:
        server.stop()


def add_orgs_with_one_member(
    db: TestDatabase, count: int, label: str
) -> tuple[list[str], list[str]]:
    """COPY `count` orgs into tenantkit's schema, each with one Member; (org_ids, user_ids)."""
    org_ids = [str(uuid.uuid4()) for _ in range(count)]
    user_ids = [str(uuid.uuid4()) for _ in range(count)]
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        with conn.cursor().copy("COPY tenantkit.orgs (org_id, name) FROM STDIN") as copy:
            for i, org in enumerate(org_ids):
                copy.write_row((org, f"{label} org {i}"))
        with conn.cursor().copy("COPY tenantkit.users (user_id, email) FROM STDIN") as copy:
            for i, user in enumerate(user_ids):
                copy.write_row((user, f"{label.lower()}{i}@example.com"))
        with conn.cursor().copy(
            "COPY tenantkit.memberships (org_id, user_id, role) FROM STDIN"
        ) as copy:
            for org, user in zip(org_ids, user_ids, strict=True):
                copy.write_row((org, user, "Member"))
        conn.execute("VACUUM ANALYZE tenantkit.memberships")
        conn.execute("VACUUM ANALYZE tenantkit.users")
    return org_ids, user_ids


@contextmanager
def pinned_to_one_cpu(db: TestDatabase, cpu: int = 0) -> Iterator[bool]:
    """Pin the PostgreSQL server (postmaster and every backend) and this process to one CPU.

    On a small VM, a request's latency depends on whether the client and its
    backend run on the same CPU (a direct switch) or on two (a cross-CPU wake-up,
    tens of microseconds here). The scheduler keeps each backend where it is, so
    connections of different variants would differ for no reason of their own.
    One CPU for everything makes the comparison fair. Yields False when not
    possible; this process's affinity is restored on exit (the server is discarded).
    """
    if not hasattr(os, "sched_setaffinity"):
        yield False
        return
    with psycopg.connect(db.conninfo("admin")) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    postmaster = _parent(int(row[0]))
    previous = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(postmaster, {cpu})  # backends forked later inherit it
        for entry in os.listdir("/proc"):
            if entry.isdigit() and _parent(int(entry)) == postmaster:
                os.sched_setaffinity(int(entry), {cpu})
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield False
    else:
        yield True
    finally:
        os.sched_setaffinity(0, previous)


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


@dataclass
class Timing:
    name: str
    samples_ns: list[int]

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_ns) / 1000

    def quantile_us(self, q: float) -> float:
        ordered = sorted(self.samples_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def interleave(
    variants: Sequence[tuple[str, Callable[[int], object]]],
    *,
    rounds: int,
    warmup: int,
    seed: int = 1234,
    keys: int = 1000,
    shuffle: bool = False,
) -> dict[str, Timing]:
    """Run each variant once per round with the same random key; return timings.

    shuffle: a new random order of the variants every round, instead of a
    rotation (a fixed rotation biased peer comparisons by up to 10%).
    """
    rng = random.Random(seed)
    timings = {name: Timing(name, []) for name, _ in variants}
    count = len(variants)
    order = list(variants)
    for r in range(warmup + rounds):
        if r == warmup:
            gc.collect()
            gc.freeze()
        key = rng.randrange(keys)
        if shuffle:
            rng.shuffle(order)
        for i in range(count):
            name, fn = order[i] if shuffle else variants[(r + i) % count]
            started = time.perf_counter_ns()
            fn(key)
            elapsed = time.perf_counter_ns() - started
            if r >= warmup:
                timings[name].samples_ns.append(elapsed)
    gc.unfreeze()
    return timings


def report(title: str, timings: dict[str, Timing], pairs: Sequence[tuple[str, str, float]]) -> None:
    """Print medians and p99 per variant, then ratios (variant / baseline) against targets."""
    print(f"\n{title}")
    width = max(len(n) for n in timings)
    for t in timings.values():
        print(
            f"  {t.name:<{width}}  median {t.median_us:8.1f} us   p99 {t.quantile_us(0.99):8.1f} us"
            f"   (n={len(t.samples_ns)})"
        )
    for variant, baseline, target in pairs:
        ratio = timings[variant].median_us / timings[baseline].median_us
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"  ratio {variant} / {baseline} = {ratio:.3f}  (target <= {target:.2f}: {verdict})")


def enable_pg_stat_statements(db: TestDatabase) -> bool:
    """Load pg_stat_statements (a restart) and create it in the bench database.

    Only for a server the run started itself: the restart reuses its command
    line (postmaster.opts) and runs as the data directory's owner. False when
    the server cannot be restarted from here or ships no pg_stat_statements.
    """
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        loaded = conn.execute("SHOW shared_preload_libraries").fetchone()
        datadir_row = conn.execute("SHOW data_directory").fetchone()
        bindir_row = conn.execute("SELECT setting FROM pg_config WHERE name = 'BINDIR'").fetchone()
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
        ).fetchone()
        if available is None or datadir_row is None or bindir_row is None:
            return False
        if loaded is None or "pg_stat_statements" not in str(loaded[0]):
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            datadir = Path(str(datadir_row[0]))
            owner = datadir.stat()
            try:
                subprocess.run(
                    [str(Path(str(bindir_row[0])) / "pg_ctl"), "-D", str(datadir), "-w",
                     "-l", str(datadir / "restart.log"), "-m", "fast", "restart"],
                    check=True,
                    # The server inherits these: pipes would never close.
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    user=owner.st_uid if os.geteuid() == 0 else None,
                    group=owner.st_gid if os.geteuid() == 0 else None,
                    timeout=60,
                )
            except (OSError, subprocess.SubprocessError) as error:
                print(f"pg_stat_statements: could not restart the server: {error}")
                return False
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    return True


def statement_costs(
    db: TestDatabase, like: str, *, database: str | None = None
) -> list[tuple[str, int, float, float]]:
    """(query, calls, mean execution us, mean planning us) of statements matching `like`
    (in `database`, default the bench database)."""
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, calls, mean_exec_time * 1000, mean_plan_time * 1000 "
            "FROM pg_stat_statements WHERE query LIKE %s AND calls > 0 "
            "AND dbid = (SELECT oid FROM pg_database WHERE datname = %s) ORDER BY query",
            (like, database or db.name),
        ).fetchall()
    return [(str(q), int(c), float(e), float(p)) for q, c, e, p in rows]


def reset_statement_costs(db: TestDatabase) -> None:
    with psycopg.connect(db.conninfo("admin"), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
