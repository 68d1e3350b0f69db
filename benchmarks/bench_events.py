"""Webhook delivery: events per second to a local receiver, and commit-to-delivery latency.

1. Throughput: 2,000 committed events are waiting; a worker delivers them to one
   endpoint (one request at a time: per-endpoint order), then to four endpoints
   (four delivery threads). Reported as events delivered per second.
2. Latency: with the worker idle on LISTEN, commit one change at a time and time
   from the commit's return to the receiver's handler (median, p99).

The worker, the receiver (http.server, keep-alive) and the writer share this
process, so the figures include their contention for the GIL; a worker of its
own on its own machine does better. Uses TENANTKIT_TEST_DATABASE_URL when set,
else a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import sqlalchemy

from benchmarks._support import bench_database
from tenantkit.events import Endpoints, SecretBox
from tenantkit.events._secretbox import new_key
from tenantkit.events._worker import Worker, WorkerConfig
from tenantkit.orgs import Actor, Management
from tenantkit.testing import TestDatabase

BACKLOG = 2_000
LATENCY_SAMPLES = 200


class _Receiver:
    """Counts deliveries per path and stamps when each arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                now = time.perf_counter()
                with receiver.lock:
                    receiver.count += 1
                    receiver.arrived.setdefault(self.headers["webhook-id"], now)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def wait_for(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.count} of {count} deliveries arrived")
            time.sleep(0.001)


def _backlog(db: TestDatabase, org_id: str, count: int) -> None:
    with psycopg.connect(db.conninfo("service")) as conn:
        for i in range(count):
            conn.execute("UPDATE tenantkit.orgs SET metadata = jsonb_build_object('i', %s::int) "
                         "WHERE org_id = %s", (i, org_id))
            conn.commit()


def _worker(db: TestDatabase, box: SecretBox, concurrency: int) -> Worker:
    config = WorkerConfig(concurrency=concurrency, allow_loopback_http=True,
                          poll_interval=1.0, batch=1_000_000)
    worker = Worker(db.conninfo("service"), config, box=box)
    worker.start()
    return worker


def throughput(db: TestDatabase, engine: sqlalchemy.Engine, box: SecretBox, org_id: str,
               endpoints: int) -> None:
    receiver = _Receiver()
    with engine.begin() as conn:
        e = Endpoints(conn, box=box)
        ids = [e.create(receiver.url(f"e{i}")).endpoint.endpoint_id for i in range(endpoints)]
    _backlog(db, org_id, BACKLOG)
    started = time.perf_counter()
    worker = _worker(db, box, endpoints)
    receiver.wait_for(BACKLOG * endpoints)
    elapsed = time.perf_counter() - started
    worker.stop()
    with engine.begin() as conn:
        for endpoint_id in ids:
            Endpoints(conn, box=box).delete(endpoint_id)
    receiver.server.shutdown()
    total = BACKLOG * endpoints
    print(f"  {endpoints} endpoint(s): {total} deliveries in {elapsed:5.2f} s = "
          f"{total / elapsed:7.0f} events/s ({total / elapsed / endpoints:5.0f} per endpoint)")


def latency(db: TestDatabase, engine: sqlalchemy.Engine, box: SecretBox, org_id: str) -> None:
    receiver = _Receiver()
    with engine.begin() as conn:
        Endpoints(conn, box=box).create(receiver.url("latency"))
    worker = _worker(db, box, 2)
    assert worker.listener is not None
    worker.listener.listening.wait(10)
    samples: list[float] = []
    with psycopg.connect(db.conninfo("service")) as conn:
        for i in range(LATENCY_SAMPLES + 10):
            conn.execute("UPDATE tenantkit.orgs SET metadata = jsonb_build_object('l', %s::int) "
                         "WHERE org_id = %s", (i, org_id))
            conn.commit()
            committed = time.perf_counter()
            receiver.wait_for(i + 1)
            arrived = max(receiver.arrived.values())
            if i >= 10:  # warm-up
                samples.append(arrived - committed)
    worker.stop()
    samples.sort()
    median = statistics.median(samples) * 1000
    p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))] * 1000
    print(f"  commit -> delivery (LISTEN/NOTIFY wake-up, n={len(samples)}): "
          f"median {median:6.2f} ms   p99 {p99:6.2f} ms")


def main() -> None:
    with bench_database() as db:
        box = SecretBox.from_text(new_key())  # secrets encrypted at rest, as in production
        engine = sqlalchemy.create_engine(db.url("service"))
        with engine.begin() as conn:
            org_id = Management(conn, Actor.service()).orgs.create("bench events").org_id
        print("\nwebhook delivery to a local receiver (http://127.0.0.1, keep-alive)")
        throughput(db, engine, box, org_id, endpoints=1)
        throughput(db, engine, box, org_id, endpoints=4)
        latency(db, engine, box, org_id)
        engine.dispose()


if __name__ == "__main__":
    main()
