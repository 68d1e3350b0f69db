"""Delivery to a real local receiver that checks signatures with `standardwebhooks`.

Waits are bounded polls for a condition (never timing assertions). Retries
use millisecond backoff so failure scenarios finish in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tenantkit.events import SecretBox
from tenantkit.events._retry import RetryPolicy
from tenantkit.events._secretbox import new_key
from tenantkit.events._signing import new_secret
from tenantkit.events._worker import Worker, WorkerConfig
from tenantkit.testing import TestDatabase, TwoOrgs
from tests.events.conftest import committed_ids, newest_event_id
from tests.events.receiver import Receiver, wait_until

Factory = Callable[[], Any]


def test_signed_delivery_in_propelauth_shape_with_filters(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker], events_db: TestDatabase,
) -> None:
    with endpoints() as e:
        everything = e.create(receiver.add("all", "placeholder"))
        only_a = e.create(receiver.add("a-members", "placeholder"), org_id=ev_orgs.a.org_id,
                          event_types=["user.added_to_org", "org.created"])
    receiver.hooks["all"].secrets = [everything.secret]
    receiver.hooks["a-members"].secrets = [only_a.secret]
    start = everything.endpoint.status.last_event_id
    with service() as m:
        user = m.users.create("dana@example.com", autojoin=False)
        m.members.add(ev_orgs.a.org_id, user.user_id, "Member")
        m.members.add(ev_orgs.b.org_id, user.user_id, "Member")
        org = m.orgs.create("Billing Co")
    start_worker()
    wanted = committed_ids(events_db, start)
    wait_until(lambda: receiver.hooks["all"].processed == wanted, what="all events")
    [added_a] = committed_ids(events_db, start, org_ids=[ev_orgs.a.org_id],
                              types=["user.added_to_org"])
    wait_until(lambda: receiver.hooks["a-members"].processed == [added_a], what="filtered")
    hook = receiver.hooks["all"]
    assert hook.bad_signatures == 0 and receiver.hooks["a-members"].bad_signatures == 0
    created = next(b for b in hook.bodies.values() if b["event_type"] == "org.created")
    assert {"org_id": org.org_id, "name": "Billing Co"}.items() <= created.items()
    added = hook.bodies[added_a]
    assert {"event_type": "user.added_to_org", "org_id": ev_orgs.a.org_id,
            "user_id": user.user_id, "role": "Member", "event_id": added_a}.items() <= added.items()
    assert hook.headers[added_a]["webhook-id"] == f"evt_{added_a}"
    with endpoints() as e:
        status = e.fetch(everything.endpoint.endpoint_id).status
    assert (status.state, status.pending_events, status.last_event_id) == ("ok", 0, wanted[-1])
    assert status.delivered_count == len(wanted) and status.last_error is None


def test_a_signature_from_another_secret_is_refused_by_the_receiver(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker],
) -> None:
    """The receiver's check is real: a wrong secret means no event is processed."""
    with endpoints() as e:
        e.create(receiver.add("wrong", new_secret()))
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"x": 1})
    start_worker()
    wait_until(lambda: receiver.hooks["wrong"].bad_signatures >= 2, what="refusals")
    assert receiver.hooks["wrong"].processed == []


def test_rotation_signs_with_both_secrets_during_the_overlap(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker], events_db: TestDatabase,
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("rotating", "placeholder"))
        old = created.secret
        rotated = e.rotate_secret(created.endpoint.endpoint_id, overlap=timedelta(hours=1))
    assert rotated.endpoint.previous_secret_expires_at is not None
    receiver.hooks["rotating"].secrets = [old, rotated.secret]  # both must verify
    start = newest_event_id(events_db)
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"rotation": 1})
    worker = start_worker()
    wait_until(lambda: receiver.hooks["rotating"].processed == committed_ids(events_db, start))
    assert len(receiver.hooks["rotating"].headers[
        receiver.hooks["rotating"].processed[0]]["webhook-signature"].split(" ")) == 2
    # Overlap 0: the old secret stops at once; a receiver still on it refuses.
    with endpoints() as e:
        again = e.rotate_secret(created.endpoint.endpoint_id, overlap=timedelta(0))
    receiver.hooks["rotating"].secrets = [again.secret]
    receiver.add("stale", rotated.secret)
    start = newest_event_id(events_db)
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"rotation": 2})
    worker.wake()
    wait_until(lambda: receiver.hooks["rotating"].processed[-1:] == committed_ids(events_db,
                                                                                 start))
    last = receiver.hooks["rotating"].processed[-1]
    assert len(receiver.hooks["rotating"].headers[last]["webhook-signature"].split(" ")) == 1


def test_redirects_are_not_followed(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker],
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("moved", "placeholder"))
    receiver.hooks["moved"].secrets = [created.secret]
    receiver.hooks["moved"].fault = lambda _event_id: "redirect"
    receiver.add("redirect-target", created.secret)
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"moved": True})
    start_worker()
    wait_until(lambda: len(receiver.hooks["moved"].requests) >= 3, what="retries")
    assert receiver.hooks["redirect-target"].requests == []
    with endpoints() as e:
        status = e.fetch(created.endpoint.endpoint_id).status
    assert status.state == "retrying" and status.last_status_code == 302
    assert "redirect" in (status.last_error or "")


def test_http_endpoints_wait_for_a_development_worker(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker], events_db: TestDatabase,
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("dev", "placeholder"))
    receiver.hooks["dev"].secrets = [created.secret]
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"dev": True})
    production = start_worker(allow_loopback_http=False)
    assert production.deliver_pending() == 0
    assert receiver.hooks["dev"].requests == []
    with endpoints() as e:
        assert e.fetch(created.endpoint.endpoint_id).status.pending_events == 1
    start_worker()
    wait_until(lambda: len(receiver.hooks["dev"].processed) == 1)


def test_failures_back_off_then_dead_letter_and_replay_sends_again(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker], events_db: TestDatabase,
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("flaky", "placeholder"))
    endpoint_id = created.endpoint.endpoint_id
    receiver.hooks["flaky"].secrets = [created.secret]
    failing = {"on": True}
    receiver.hooks["flaky"].fault = lambda _e: "fail" if failing["on"] else "ok"
    start = created.endpoint.status.last_event_id
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"try": 1})
        m.orgs.update(ev_orgs.a.org_id, metadata={"try": 2})
    first, second = committed_ids(events_db, start)
    worker = start_worker(retry=RetryPolicy(max_attempts=3, base=0.005, cap=0.02))
    # Each event: 3 attempts, then dead; the line moves on to the next event.
    wait_until(lambda: len(receiver.hooks["flaky"].requests) >= 6, what="six attempts")
    with endpoints() as e:
        wait_until(lambda: e.fetch(endpoint_id).status.dead_letters == 2, what="dead letters")
        status = e.fetch(endpoint_id).status
        dead = e.dead_letters(endpoint_id)
    assert receiver.hooks["flaky"].requests == [first] * 3 + [second] * 3
    assert [(d.event_id, d.attempts, d.last_error) for d in dead] == [
        (first, 3, "HTTP 500"), (second, 3, "HTTP 500")]
    assert status.last_event_id == second and status.pending_events == 0
    assert receiver.hooks["flaky"].processed == []
    failing["on"] = False
    with endpoints() as e:
        assert e.replay(endpoint_id) == 2
    worker.wake()
    wait_until(lambda: receiver.hooks["flaky"].processed == [first, second], what="replay")
    with endpoints() as e:
        wait_until(lambda: e.fetch(endpoint_id).status.dead_letters == 0)
        assert e.dead_letters(endpoint_id) == []
        # Rewinding sends everything from that event on again, in order.
        assert e.replay(endpoint_id, from_event_id=first) == 2
    worker.wake()
    wait_until(lambda: receiver.hooks["flaky"].requests[-2:] == [first, second]
               and len(receiver.hooks["flaky"].requests) == 10, what="rewind")


def test_a_secret_this_worker_cannot_open_is_postponed_not_sent_unsigned(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    events_db: TestDatabase, box: SecretBox,
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("locked", "placeholder"))
    receiver.hooks["locked"].secrets = [created.secret]
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"locked": True})
    config = WorkerConfig(allow_loopback_http=True, postpone=0.01, listen=False)
    wrong_key = Worker(events_db.conninfo("service"), config, box=SecretBox.from_text(new_key()))
    assert wrong_key.deliver_pending() == 0
    assert receiver.hooks["locked"].requests == []
    with endpoints() as e:
        status = e.fetch(created.endpoint.endpoint_id).status
    assert "TENANTKIT_EVENTS_KEY" in (status.last_error or "")
    assert (status.attempts, status.dead_letters, status.pending_events) == (0, 0, 1)
    right_key = Worker(events_db.conninfo("service"), config, box=box)
    wait_until(lambda: right_key.deliver_pending() == 1, what="delivery with the right key")
    assert len(receiver.hooks["locked"].processed) == 1


def test_listen_notify_wakes_the_worker_and_polling_is_the_fallback(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    start_worker: Callable[..., Worker], events_db: TestDatabase,
) -> None:
    with endpoints() as e:
        created = e.create(receiver.add("woken", "placeholder"))
    receiver.hooks["woken"].secrets = [created.secret]
    worker = start_worker(poll_interval=600.0)  # only a notification can wake it in time
    assert worker.listener is not None
    wait_until(worker.listener.listening.is_set, what="LISTEN")
    start = newest_event_id(events_db)
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"woken": True})
    wait_until(lambda: receiver.hooks["woken"].processed == committed_ids(events_db, start),
               timeout=20, what="delivery after NOTIFY")
    worker.stop()
    start_worker(listen=False, poll_interval=0.1)
    start = newest_event_id(events_db)
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"polled": True})
    wait_until(lambda: receiver.hooks["woken"].processed[-1:] == committed_ids(events_db, start),
               what="delivery by polling")


def test_the_old_secret_stops_signing_when_the_overlap_ends(
    receiver: Receiver, endpoints: Factory, service: Factory, ev_orgs: TwoOrgs,
    events_db: TestDatabase, box: SecretBox,
) -> None:
    import psycopg

    with endpoints() as e:
        created = e.create(receiver.add("expiring", "placeholder"))
        rotated = e.rotate_secret(created.endpoint.endpoint_id, overlap=timedelta(hours=1))
    receiver.hooks["expiring"].secrets = [rotated.secret]
    # The hour passes (the clock is the database's: move the expiry instead of waiting).
    with psycopg.connect(events_db.conninfo("admin")) as conn:
        conn.execute("UPDATE tenantkit.webhook_endpoints "
                     "SET previous_secret_expires_at = now() - interval '1 second' "
                     "WHERE endpoint_id = %s", (created.endpoint.endpoint_id,))
    with endpoints() as e:
        assert e.fetch(created.endpoint.endpoint_id).previous_secret_expires_at is None
    start = newest_event_id(events_db)
    with service() as m:
        m.orgs.update(ev_orgs.a.org_id, metadata={"expired": True})
    worker = Worker(events_db.conninfo("service"),
                    WorkerConfig(allow_loopback_http=True, listen=False), box=box)
    try:
        assert worker.deliver_pending() == 1
    finally:
        worker.stop()
    hook = receiver.hooks["expiring"]
    assert hook.processed == committed_ids(events_db, start)
    assert len(hook.headers[hook.processed[0]]["webhook-signature"].split(" ")) == 1
