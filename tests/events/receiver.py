"""A real webhook receiver for the tests: HTTP on 127.0.0.1, in a thread.

It verifies every request with the `standardwebhooks` package (not tenantkit's
signer), dedupes by `webhook-id` as a receiver should, and can misbehave on
purpose: fail a share of requests (500), time out on a share (it processes the
event, then hangs past the worker's timeout, so the worker sends it again),
redirect, or be down (its port closed).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Fault = Literal["ok", "fail", "timeout", "redirect"]


@dataclass
class Hook:
    """What one path (one endpoint) received."""

    secrets: list[str]
    #: The event id of every verified request, in arrival order.
    requests: list[int] = field(default_factory=list)
    #: Event ids processed, first time each (the dedupe by webhook-id).
    processed: list[int] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    headers: dict[int, dict[str, str]] = field(default_factory=dict)
    bad_signatures: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)
    concurrent_duplicates: int = 0
    fault: Callable[[int], Fault] = lambda _event_id: "ok"


class Receiver:
    """`add(name, secret)` gives an endpoint URL; `hooks[name]` is what it received."""

    def __init__(self, *, hang: float = 1.0, delay: float = 0.0) -> None:
        self.hooks: dict[str, Hook] = {}
        self.lock = threading.Lock()
        self.hang = hang
        self.delay = delay
        self._server: ThreadingHTTPServer | None = None
        self._down = False
        self.port = 0
        self.up()

    # --- lifecycle ----------------------------------------------------------------

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self._down = False
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self._server = server

    def down(self) -> None:
        """Close the port (new connections are refused) and hang up on open ones."""
        self._down = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.down()

    def add(self, name: str, *secrets: str) -> str:
        self.hooks[name] = Hook(list(secrets))
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def faults(self, name: str, *, fail: float = 0.0, timeout: float = 0.0,
               seed: int = 7) -> None:
        """Fail a share of requests and time out on another (decided per request)."""
        rng = random.Random(seed)

        def decide(_event_id: int) -> Fault:
            with self.lock:
                roll = rng.random()
            if roll < fail:
                return "fail"
            if roll < fail + timeout:
                return "timeout"
            return "ok"

        self.hooks[name].fault = decide

    # --- handling ---------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        name = request.path.rsplit("/", 1)[-1]
        body = request.rfile.read(int(request.headers.get("content-length", "0")))
        if self._down:  # a kept-alive connection to a server that went away
            request.close_connection = True
            return
        hook = self.hooks.get(name)
        if hook is None or not request.path.startswith("/hook/"):
            self._reply(request, 404)
            return
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verified = [Webhook(s).verify(body, headers) for s in hook.secrets]
        except WebhookVerificationError:
            with self.lock:
                hook.bad_signatures += 1
            self._reply(request, 400)
            return
        payload = verified[0]
        event_id = int(payload["event_id"])
        msg_id = headers["webhook-id"]
        with self.lock:
            hook.requests.append(event_id)
            hook.in_flight[msg_id] = hook.in_flight.get(msg_id, 0) + 1
            if hook.in_flight[msg_id] > 1:
                hook.concurrent_duplicates += 1
        try:
            if self.delay:
                time.sleep(self.delay)
            fault = hook.fault(event_id)
            if fault == "fail":
                self._reply(request, 500)
                return
            if fault == "redirect":
                request.send_response(302)
                request.send_header("location", self.url("redirect-target"))
                request.send_header("content-length", "0")
                request.end_headers()
                return
            with self.lock:
                if msg_id not in hook.seen:
                    hook.seen.add(msg_id)
                    hook.processed.append(event_id)
                    hook.bodies[event_id] = payload
                    hook.headers[event_id] = headers
        finally:
            with self.lock:
                hook.in_flight[msg_id] -= 1
        if fault == "timeout":
            time.sleep(self.hang)  # processed, but the worker gives up waiting
        self._reply(request, 204)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int) -> None:
        try:
            request.send_response(status)
            request.send_header("content-length", "0")
            request.end_headers()
        except OSError:
            pass  # the worker hung up (a timeout): nothing to tell it


def wait_until(check: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
    """Wait for `check()` to hold (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or check}")
        time.sleep(0.02)
