"""The README's receiver example, run as it is against deliveries signed by tenantkit.

The code block is read out of README.md ("Events and webhooks"), served over
HTTP on 127.0.0.1, and given a real delivery by the worker, then hand-made
ones from tenantkit's signer: a retry, a wrong secret, a stale timestamp and a
rotation overlap. If the example rots, or stops verifying, this fails.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from tenantkit.events import Event, read_events
from tenantkit.events._delivery import new_client, send, webhook_body, webhook_id
from tenantkit.events._signing import new_secret, signature_headers
from tenantkit.events._worker import Worker
from tenantkit.testing import TestDatabase
from tests.events.conftest import newest_event_id
from tests.events.receiver import wait_until

README = Path(__file__).resolve().parents[2] / "README.md"
Factory = Callable[[], Any]


def receiver_example() -> str:
    """The one Python block of the README's events section that uses standardwebhooks."""
    text = README.read_text()
    section = text.split("\n## Events and webhooks\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
              if "standardwebhooks" in b]
    assert len(blocks) == 1, "the README's events section should hold one receiver example"
    return str(blocks[0])


def test_the_example_verifies_with_the_maintained_library() -> None:
    code = receiver_example()
    assert "from standardwebhooks import" in code
    assert "from tenantkit" not in code and "import tenantkit" not in code  # not our signer


class Served:
    """The README example running under uvicorn; `calls` is what it processed."""

    def __init__(self, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TENANTKIT_WEBHOOK_SECRET", secret)
        self.module = types.ModuleType("readme_receiver")
        exec(compile(receiver_example(), "README.md (receiver example)", "exec"),  # noqa: S102
             self.module.__dict__)
        self.calls: list[tuple[str, str]] = []
        # The example's placeholder for "your code": record what it was asked to do.
        self.module.__dict__["create_billing_customer"] = (
            lambda org_id, name: self.calls.append((org_id, name)))
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/hooks/tenantkit"
        config = uvicorn.Config(self.module.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started, what="uvicorn")

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@pytest.fixture
def make_served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Served]]:
    started: list[Served] = []

    def make(secret: str) -> Served:
        served = Served(secret, monkeypatch)
        started.append(served)
        return served

    yield make
    for served in started:
        served.close()


def test_the_readme_receiver_takes_a_real_delivery_and_refuses_forgeries(
    make_served: Callable[[str], Served], endpoints: Factory, service: Factory,
    ev_service: Engine, events_db: TestDatabase, start_worker: Callable[..., Worker],
) -> None:
    # The secret exists once the endpoint does, and the example reads it at import:
    # make the endpoint on a placeholder URL, start the example, then point the endpoint at it.
    with endpoints() as e:
        created = e.create("http://127.0.0.1:9/placeholder")
    served = make_served(created.secret)
    with endpoints() as e:
        e.update(created.endpoint.endpoint_id, url=served.url)
    start = newest_event_id(events_db)
    with service() as m:
        org = m.orgs.create("Readme Billing Co")
        m.orgs.update(org.org_id, metadata={"plan": "pro"})  # another type: 2xx, no work

    # 1. A real delivery, by the worker: processed once.
    start_worker()
    wait_until(lambda: served.calls == [(org.org_id, "Readme Billing Co")], what="org.created")
    with endpoints() as e:
        wait_until(lambda: e.fetch(created.endpoint.endpoint_id).status.pending_events == 0,
                   what="both events delivered")
        status = e.fetch(created.endpoint.endpoint_id).status
    assert (status.state, status.last_status_code, status.last_error) == ("ok", 204, None)
    with ev_service.connect() as conn:
        event = next(e for e in read_events(conn, after=start) if e.event_type == "org.created")

    with new_client(5.0) as client:
        # 2. The same event again (a retry): accepted, and not processed twice.
        assert send(client, served.url, [created.secret], event).status_code == 204
        # 3. Signed with another secret: refused, nothing processed.
        refused = send(client, served.url, [new_secret()], _another(event, "Forged Co"))
        assert (refused.delivered, refused.status_code) == (False, 400)
        # 4. A correct signature five minutes and more in the past: refused (replay).
        stale = _another(event, "Replayed Co")
        body = webhook_body(stale)
        headers = signature_headers([created.secret], webhook_id(stale),
                                    int(time.time()) - 600, body)
        answer = httpx.post(served.url, content=body, headers=headers)
        assert answer.status_code == 400
        # 5. During a rotation overlap, new and old secret both sign: accepted.
        rotated = _another(event, "Rotated Co")
        accepted = send(client, served.url, [new_secret(), created.secret], rotated)
        assert accepted.status_code == 204
    assert served.calls == [(org.org_id, "Readme Billing Co"), (rotated.org_id, "Rotated Co")]


def _another(event: Event, name: str) -> Event:
    """A new org.created event (its own id), as tenantkit would sign and send it."""
    fresh = 10**12 + len(name) * 1000 + int(time.time() * 1000) % 1000
    return replace(event, event_id=fresh, payload={**event.payload, "name": name})
