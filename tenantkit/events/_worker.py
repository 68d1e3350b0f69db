"""The delivery worker: `tenantkit events run`.

Each delivery thread has its own connection (as the service role) and repeats
one transaction per attempt: lock a due endpoint's cursor row `FOR UPDATE SKIP
LOCKED`, take the head of its line (a queued replay, else the next matching
event after the cursor), POST it, record the outcome, commit. So:

- per endpoint, events go out one at a time in event-id order (commit order),
  the next only after the previous one was accepted or dead-lettered;
- several threads and several worker processes share the endpoints, and no
  endpoint is ever delivered to by two of them at once;
- a worker that dies mid-request loses nothing: its transaction rolls back,
  the lock goes with the connection, and the same event is sent again
  (receivers dedupe by `webhook-id`). A worker that hangs is cut off by
  `idle_in_transaction_session_timeout` the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from tenantkit.events._delivery import Outcome, new_client, send
from tenantkit.events._listener import Listener
from tenantkit.events._models import Event
from tenantkit.events._retry import RetryPolicy
from tenantkit.events._secretbox import SecretBox, SecretUnavailable
from tenantkit.sqlfiles import load_sql

__all__ = ["Worker", "WorkerConfig"]

_log = logging.getLogger("tenantkit.events")
_Conn = psycopg.Connection[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Step:
    """What one attempt transaction did to an endpoint."""

    endpoint_id: str
    sent: bool  # a request went out
    moved_on: bool  # the head event was settled (delivered or dead-lettered)


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker delivers. Times in seconds."""

    concurrency: int = 4
    #: Polling interval when no notification arrives (the fallback).
    poll_interval: float = 5.0
    #: Per-request timeout (connect, read, write).
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Events one thread sends to an endpoint before giving the others a turn.
    batch: int = 100
    #: Deliver to http://127.0.0.1 / [::1] / localhost endpoints (development only).
    allow_loopback_http: bool = False
    listen: bool = True
    #: When a secret cannot be decrypted, look again after this long.
    postpone: float = 60.0

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.batch < 1:
            raise ValueError("concurrency and batch must be at least 1")
        if self.poll_interval <= 0 or self.timeout <= 0 or self.postpone <= 0:
            raise ValueError("poll_interval, timeout and postpone must be positive")


class Worker:
    """Delivers events to webhook endpoints until `stop()`; `conninfo` is the service role's."""

    def __init__(self, conninfo: str, config: WorkerConfig | None = None, *,
                 box: SecretBox | None = None, client: httpx.Client | None = None) -> None:
        self._conninfo = conninfo
        self.config = config or WorkerConfig()
        self._box = box if box is not None else SecretBox.from_env()
        self._client = client or new_client(self.config.timeout)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self.listener: Listener | None = None
        self._sql = {name: load_sql(f"events/{name}.sql") for name in (
            "claim", "head", "skip", "delivered", "retry", "dead", "postpone", "next_due")}

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the listener and the delivery threads in the background."""
        if self._box.unencrypted():
            _log.warning("webhook secrets are stored unencrypted: set TENANTKIT_EVENTS_KEY")
        if self.config.listen:
            self.listener = Listener(self._conninfo, self.wake, self._stop)
            self.listener.start()
        for i in range(self.config.concurrency):
            thread = threading.Thread(target=self._loop, name=f"tenantkit-events-{i}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_stop(self) -> None:
        """Ask every thread to finish its current attempt (safe in a signal handler)."""
        self._stop.set()
        self.wake()

    def stop(self, timeout: float | None = None) -> None:
        """Ask every thread to finish its current attempt and wait for them."""
        self.request_stop()
        for thread in [*self._threads, *([self.listener] if self.listener else [])]:
            thread.join(timeout)
        self._client.close()

    def run(self) -> None:
        """Start, and block until `stop()` is called (from a signal handler, say)."""
        self.start()
        self._stop.wait()
        self.stop()

    def wake(self) -> None:
        """Tell idle delivery threads to look for work now."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def deliver_pending(self) -> int:
        """Deliver on this thread until nothing is due right now; the requests sent."""
        with self._connect() as conn:
            return self._work(conn)

    # --- the delivery loop ---------------------------------------------------------------

    def _connect(self) -> _Conn:
        conn = psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row,
                               application_name="tenantkit-events-worker")
        # A worker frozen mid-request must not hold an endpoint forever.
        limit_ms = int((self.config.timeout + 60) * 1000)
        conn.execute(f"SET idle_in_transaction_session_timeout = {limit_ms}")
        return conn

    def _loop(self) -> None:
        conn: _Conn | None = None
        while not self._stop.is_set():
            generation = self._generation
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                self._work(conn)
                wait = self._idle_wait(conn)
            except psycopg.Error as exc:
                _log.warning("events worker: database error (%s); reconnecting",
                             type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
                wait = 1.0
            with self._cond:
                if self._generation == generation and not self._stop.is_set():
                    self._cond.wait(wait)
        if conn is not None:
            conn.close()

    def _work(self, conn: _Conn) -> int:
        """Attempt deliveries until no endpoint is due; the number of requests sent.

        A failed attempt puts its endpoint in backoff and the thread goes on to the
        other due endpoints: one failing receiver never holds up the healthy ones.
        """
        attempts = 0
        stay_on: str | None = None  # the endpoint whose line moved on: send its next event
        streak = 0
        while not self._stop.is_set():
            step = self._attempt(conn, stay_on)
            if step is None:
                if stay_on is None:
                    return attempts  # nothing is due anywhere
                stay_on, streak = None, 0  # that line is empty: look at the others
                continue
            attempts += step.sent
            streak += 1
            if step.moved_on and streak < self.config.batch:
                stay_on = step.endpoint_id
            else:  # in backoff, skipped ahead or postponed; or its batch is done
                stay_on, streak = None, 0
        return attempts

    def _idle_wait(self, conn: _Conn) -> float:
        row = conn.execute(self._sql["next_due"],
                           {"allow_http": self.config.allow_loopback_http}).fetchone()
        due = row["extract"] if row else None
        if due is None:
            return self.config.poll_interval
        return max(0.001, min(self.config.poll_interval, float(due)))

    def _attempt(self, conn: _Conn, endpoint_id: str | None) -> _Step | None:
        """One transaction: claim, send the head event, record. None: nothing to do."""
        started = time.monotonic()
        with conn.transaction():
            claimed = conn.execute(self._sql["claim"], {
                "endpoint_id": endpoint_id, "allow_http": self.config.allow_loopback_http,
            }).fetchone()
            if claimed is None:
                return None
            head = conn.execute(self._sql["head"], {
                "endpoint_id": claimed["endpoint_id"], "after": claimed["last_event_id"],
                "event_types": claimed["event_types"], "org_id": claimed["org_id"],
            }).fetchone()
            assert head is not None
            if head["event_id"] is None:
                if head["newest"] is None or head["newest"] <= claimed["last_event_id"]:
                    return None
                conn.execute(self._sql["skip"], {"endpoint_id": claimed["endpoint_id"],
                                                 "newest": head["newest"]})
                return _Step(claimed["endpoint_id"], sent=False, moved_on=False)
            event = Event(**{k: head[k] for k in (
                "event_id", "event_type", "org_id", "payload", "occurred_at", "committed_at")})
            try:
                secrets = self._secrets(claimed)
            except SecretUnavailable as exc:
                _log.error("events worker: endpoint %s: %s", claimed["endpoint_id"], exc.message)
                conn.execute(self._sql["postpone"], {"endpoint_id": claimed["endpoint_id"],
                                                     "delay": self.config.postpone,
                                                     "error": exc.message[:500]})
                return _Step(claimed["endpoint_id"], sent=False, moved_on=False)
            outcome = send(self._client, claimed["url"], secrets, event)
            moved_on = self._record(conn, claimed, event, bool(head["is_replay"]), outcome,
                                    time.monotonic() - started)
            return _Step(claimed["endpoint_id"], sent=True, moved_on=moved_on)

    def _secrets(self, claimed: Mapping[str, Any]) -> list[str]:
        endpoint_id = claimed["endpoint_id"]
        found = [self._box.open(claimed["secret"], endpoint_id)]
        if claimed["previous_secret"] is not None:
            found.append(self._box.open(claimed["previous_secret"], endpoint_id))
        return found

    def _record(self, conn: _Conn, claimed: Mapping[str, Any], event: Event, is_replay: bool,
                outcome: Outcome, elapsed: float) -> bool:
        """Record the attempt; True when the endpoint's line moved on (delivered or dead)."""
        endpoint_id: str = claimed["endpoint_id"]
        params: dict[str, Any] = {"endpoint_id": endpoint_id, "event_id": event.event_id,
                                  "is_replay": is_replay, "status_code": outcome.status_code}
        if outcome.delivered:
            conn.execute(self._sql["delivered"], params)
            return True
        same_head = claimed["head_event_id"] == event.event_id
        attempts = claimed["attempts"] + 1 if same_head else 1
        params.update(attempts=attempts, error=outcome.error)
        policy = self.config.retry
        if policy.exhausted(attempts):
            _log.warning("events worker: endpoint %s: event %s dead-lettered after %s attempts"
                         " (%s)", endpoint_id, event.event_id, attempts, outcome.error)
            conn.execute(self._sql["dead"], params)
            return True
        _log.info("events worker: endpoint %s: event %s attempt %s failed (%s)",
                  endpoint_id, event.event_id, attempts, outcome.error)
        # The SQL adds the delay to the transaction's start: the backoff counts from
        # the end of this attempt, however long the receiver took to fail.
        conn.execute(self._sql["retry"], {**params, "delay": policy.delay(attempts) + elapsed})
        return False
