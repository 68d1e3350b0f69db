"""One webhook request: sign the event, POST it, and say what happened.

Redirects are never followed (a 3xx is a failure), the proxy and netrc
settings of the environment are ignored, and at most 64 KiB of the response
is read. Errors name what went wrong without the body or any secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from tenantkit.events._models import Event
from tenantkit.events._signing import signature_headers

__all__ = ["Outcome", "new_client", "send", "webhook_body", "webhook_id"]

MAX_ERROR = 500
_READ_LIMIT = 64 * 1024
USER_AGENT = "tenantkit-webhooks/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt: delivered (2xx) or not, and why not."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None


def new_client(timeout: float) -> httpx.Client:
    """The client every delivery thread shares: no redirects, no environment proxies."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False,
                        headers={"user-agent": USER_AGENT})


def webhook_id(event: Event) -> str:
    """The `webhook-id` of an event: the same on every attempt and every replay."""
    return f"evt_{event.event_id}"


def webhook_body(event: Event) -> bytes:
    return json.dumps(event.body(), separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def send(client: httpx.Client, url: str, secrets: Sequence[str], event: Event) -> Outcome:
    """POST `event` to `url`, signed with each of `secrets`."""
    body = webhook_body(event)
    headers = signature_headers(secrets, webhook_id(event), int(time.time()), body)
    headers["content-type"] = "application/json"
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > _READ_LIMIT:
                    break
    except httpx.TimeoutException:
        return Outcome(False, None, f"timed out after {client.timeout.read}s")
    except httpx.HTTPError as exc:
        return Outcome(False, None, _short(f"{type(exc).__name__}: {exc}"))
    if 200 <= status < 300:
        return Outcome(True, status)
    if 300 <= status < 400:
        return Outcome(False, status, f"HTTP {status}: redirects are not followed")
    return Outcome(False, status, f"HTTP {status}")


def _short(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in text)
    return printable[:MAX_ERROR]
