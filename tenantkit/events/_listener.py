"""LISTEN/NOTIFY wake-ups for the delivery worker, with polling as the fallback.

Each committing transaction that wrote events sends one `tenantkit_events`
notification. The listener holds its own dedicated connection (never a pooled
tenantkit connection: those are cleaned of LISTEN registrations between uses)
and wakes the delivery threads on every notification. If the connection
drops it reconnects, and the threads keep polling meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

__all__ = ["CHANNEL", "Listener"]

CHANNEL = "tenantkit_events"
_log = logging.getLogger("tenantkit.events")


class Listener(threading.Thread):
    """A daemon thread calling `wake()` on each notification until `stop` is set."""

    def __init__(self, conninfo: str, wake: Callable[[], None], stop: threading.Event,
                 *, reconnect_after: float = 1.0) -> None:
        super().__init__(name="tenantkit-events-listener", daemon=True)
        self._conninfo = conninfo
        self._wake = wake
        self._stop_event = stop
        self._reconnect_after = reconnect_after
        self.listening = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True,
                                     application_name="tenantkit-events-listener") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._wake()  # whatever committed while nobody listened
                    while not self._stop_event.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake()
            except psycopg.Error as exc:
                self.listening.clear()
                _log.warning("events listener lost its connection (%s); polling meanwhile",
                             type(exc).__name__)
                self._stop_event.wait(self._reconnect_after)
        self.listening.clear()
