"""Backoff with jitter, the worker honouring it, and what the status reports meanwhile.

The policy is checked on its own (pure); the worker is driven one pass at a
time (`deliver_pending`), so nothing here waits on a clock.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from tenantkit.cli import main
from tenantkit.events import SecretBox
from tenantkit.events._retry import RetryPolicy
from tenantkit.events._worker import Worker, WorkerConfig
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.events.conftest import committed_ids
from tests.events.receiver import Receiver

Factory = Callable[[], Any]


# --- the policy -----------------------------------------------------------------------


@pytest.mark.nodb
def test_delays_grow_exponentially_up_to_the_cap_with_equal_jitter() -> None:
    policy = RetryPolicy(max_attempts=15, base=2.0, factor=2.0, cap=3600.0,
                         rng=random.Random(1))
    for attempt in range(1, 30):
        full = min(3600.0, 2.0 * 2.0 ** (attempt - 1))
        for _ in range(50):
            assert full / 2 <= policy.delay(attempt) <= full
    # Jitter: the same attempt does not always wait the same time...
    assert len({round(policy.delay(5), 6) for _ in range(20)}) > 10
    # ...and two workers seeded differently do not retry in step.
    a, b = RetryPolicy(rng=random.Random(1)), RetryPolicy(rng=random.Random(2))
    assert [a.delay(3) for _ in range(5)] != [b.delay(3) for _ in range(5)]
    assert policy.delay(10_000) <= 3600.0  # no overflow for absurd attempt numbers


@pytest.mark.nodb
def test_exhausted_after_max_attempts_and_bad_policies_are_refused() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    for bad in ({"max_attempts": 0}, {"base": 0}, {"factor": 0.5}, {"base": 10, "cap": 5}):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)
    with pytest.raises(ValueError):
        WorkerConfig(postpone=0)  # would re-claim a postponed endpoint in a loop


# --- the worker -----------------------------------------------------------------------------


@pytest.fixture
def one_pass(events_db: TestDatabase, box: SecretBox) -> Iterator[Callable[..., Worker]]:
    """Workers that are not started: each `deliver_pending()` is one pass on this thread."""
    made: list[Worker] = []

    def make(retry: RetryPolicy) -> Worker:
        config = WorkerConfig(allow_loopback_http=True, listen=False, retry=retry)
        worker = Worker(events_db.conninfo("service"), config, box=box)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()


def test_a_failed_attempt_waits_its_backoff_and_the_status_says_why(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    events_db: TestDatabase, events_key: str, one_pass: Callable[..., Worker],
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("down", "placeholder"))
    endpoint_id = created.endpoint.endpoint_id
    receiver.hooks["down"].secrets = [created.secret]
    receiver.hooks["down"].fault = lambda _e: "fail"
    start = created.endpoint.status.last_event_id
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"backoff": 1})
    [event_id] = committed_ids(events_db, start)
    worker = one_pass(RetryPolicy(base=60.0, cap=3600.0))
    assert worker.deliver_pending() == 1
    assert worker.deliver_pending() == 0  # in backoff: not due again yet
    assert receiver.hooks["down"].requests == [event_id]
    with endpoints() as e:
        status = e.fetch(endpoint_id).status
    assert (status.state, status.attempts, status.pending_events) == ("retrying", 1, 1)
    assert (status.last_status_code, status.last_error) == (500, "HTTP 500")
    assert status.last_attempt_at is not None and status.last_success_at is None
    wait = (status.next_attempt_at - status.last_attempt_at).total_seconds()
    assert 30.0 <= wait <= 60.0 + 30.0  # half to all of the first delay, plus the attempt
    assert status.lag_seconds > 0  # the event is waiting
    # The CLI reports the same (the API's status is the same record: tests/events/test_routes.py).
    url = events_db.url("service").render_as_string(hide_password=False)
    cli = CliRunner(env={"TENANTKIT_SERVICE_DATABASE_URL": url, "TENANTKIT_EVENTS_KEY": events_key})
    [row] = json.loads(cli.invoke(main, ["events", "status", "--json"]).stdout)
    assert (row["endpoint_id"], row["state"], row["last_error"]) == (endpoint_id, "retrying",
                                                                     "HTTP 500")
    assert row["lag_seconds"] > 0 and row["pending_events"] == 1


def test_a_failing_endpoint_does_not_hold_up_the_others(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    events_db: TestDatabase, one_pass: Callable[..., Worker],
) -> None:
    """One delivery thread, two endpoints: the one that fails first (it was created
    first, so it is claimed first) goes into backoff, and the thread moves on."""
    with endpoints() as e:
        failing = e.create(receiver.add("failing", "placeholder"))
    with endpoints() as e:
        healthy = e.create(receiver.add("healthy", "placeholder"))
    receiver.hooks["failing"].secrets = [failing.secret]
    receiver.hooks["healthy"].secrets = [healthy.secret]
    receiver.hooks["failing"].fault = lambda _e: "fail"
    start = failing.endpoint.status.last_event_id
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"held": 1})
        m.orgs.update(ev_orgs.b.org_id, metadata={"held": 2})
    wanted = committed_ids(events_db, start)
    worker = one_pass(RetryPolicy(base=60.0, cap=3600.0))
    assert worker.deliver_pending() == 1 + len(wanted)
    assert receiver.hooks["failing"].requests == wanted[:1]
    assert receiver.hooks["healthy"].processed == wanted
