"""`tenantkit events`: run the delivery worker, manage endpoints, status, replay.

    tenantkit events run --database-url postgresql://tenantkit_service@db/app
    tenantkit events endpoints create --url https://billing.example.com/hooks \\
        --event-type org.created --event-type org.deleted
    tenantkit events status
    tenantkit events replay ENDPOINT_ID              # its dead letters
    tenantkit events replay ENDPOINT_ID --from-event 1200

Every command connects as the service role (--database-url or
$TENANTKIT_SERVICE_DATABASE_URL). Secrets are printed once, by `create` and
`rotate-secret`. `run` needs the `events` extra (httpx).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import click
import sqlalchemy

from tenantkit.errors import TenantkitError
from tenantkit.events._endpoints import DEFAULT_OVERLAP, Endpoints
from tenantkit.events._models import Endpoint
from tenantkit.events._secretbox import SecretBox, new_key
from tenantkit.events._types import EVENT_TYPES
from tenantkit.migrate import normalize_url

__all__ = ["events_command"]

_url_option = click.option(
    "--database-url", envvar="TENANTKIT_SERVICE_DATABASE_URL", required=True,
    help="Service role's URL (env TENANTKIT_SERVICE_DATABASE_URL).")


@contextmanager
def _endpoints(database_url: str) -> Iterator[Endpoints]:
    try:
        box = SecretBox.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = sqlalchemy.create_engine(normalize_url(database_url), poolclass=sqlalchemy.NullPool)
    try:
        with engine.begin() as conn:
            yield Endpoints(conn, box=box)
    except TenantkitError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(_plain(value), indent=2))


@click.group("events")
def events_command() -> None:
    """Events and webhooks: the delivery worker, endpoints, status and replay."""


# --- the worker ----------------------------------------------------------------------


@events_command.command("run")
@_url_option
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Delivery threads (endpoints delivered to at once).")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), default=5.0,
              show_default=True, help="Seconds between polls when no notification arrives.")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Seconds before a request counts as failed.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=15, show_default=True,
              help="Attempts before an event is dead-lettered.")
@click.option("--backoff-base", type=click.FloatRange(min=0.001), default=2.0,
              show_default=True, help="Seconds after the first failure (doubling, jittered).")
@click.option("--backoff-cap", type=click.FloatRange(min=0.001), default=3600.0,
              show_default=True, help="Longest wait between attempts, in seconds.")
@click.option("--allow-loopback-http", is_flag=True,
              help="Development only: deliver to http://127.0.0.1, [::1] and localhost.")
@click.option("--no-listen", is_flag=True, help="Poll only (no LISTEN/NOTIFY).")
def run_command(database_url: str, concurrency: int, poll_interval: float, timeout: float,
                max_attempts: int, backoff_base: float, backoff_cap: float,
                allow_loopback_http: bool, no_listen: bool) -> None:
    """Deliver events to the webhook endpoints until SIGINT or SIGTERM."""
    try:
        from tenantkit.events._retry import RetryPolicy
        from tenantkit.events._worker import Worker, WorkerConfig
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"'tenantkit events run' needs {exc.name!r}: pip install 'tenantkit[events]'"
        ) from exc
    try:
        retry = RetryPolicy(max_attempts=max_attempts, base=backoff_base,
                            cap=max(backoff_cap, backoff_base))
        config = WorkerConfig(concurrency=concurrency, poll_interval=poll_interval,
                              timeout=timeout, retry=retry,
                              allow_loopback_http=allow_loopback_http, listen=not no_listen)
        box = SecretBox.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    url = normalize_url(database_url)
    conninfo = url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://", 1)
    worker = Worker(conninfo, config, box=box)
    def stop(_signum: int, _frame: Any) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"delivering events from {url.render_as_string(hide_password=True)} "
               f"with {concurrency} thread(s)", err=True)
    worker.run()


@events_command.command("keygen")
def keygen_command() -> None:
    """Print a new key for TENANTKIT_EVENTS_KEY (encrypts signing secrets at rest)."""
    click.echo(new_key())


# --- endpoints ---------------------------------------------------------------------------


@events_command.group("endpoints")
def endpoints_command() -> None:
    """Create, list, change, delete webhook endpoints; rotate their secrets."""


@endpoints_command.command("create")
@_url_option
@click.option("--url", "endpoint_url", required=True, help="https:// URL to POST events to.")
@click.option("--event-type", "event_types", multiple=True, type=click.Choice(EVENT_TYPES),
              help="Only these event types (repeatable; default: all).")
@click.option("--org-id", default=None, help="Only this org's events (default: all orgs).")
@click.option("--description", default="", help="A label.")
def create_endpoint(database_url: str, endpoint_url: str, event_types: tuple[str, ...],
                    org_id: str | None, description: str) -> None:
    """Create an endpoint and print its signing secret (shown once)."""
    with _endpoints(database_url) as e:
        created = e.create(endpoint_url, event_types=event_types, org_id=org_id,
                           description=description)
    click.echo(f"endpoint: {created.endpoint.endpoint_id}")
    click.echo(f"secret:   {created.secret}")
    click.echo("the secret is shown only now: give it to the receiver", err=True)


@endpoints_command.command("list")
@_url_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_endpoints(database_url: str, as_json: bool) -> None:
    """The endpoints (without secrets)."""
    with _endpoints(database_url) as e:
        found = e.list()
    if as_json:
        _echo_json([_endpoint_json(x) for x in found])
        return
    for x in found:
        types = ",".join(x.event_types) or "*"
        click.echo(f"{x.endpoint_id}  {'on ' if x.enabled else 'off'}  {x.url}  "
                   f"types={types}  org={x.org_id or '*'}")


def _endpoint_json(x: Endpoint) -> dict[str, Any]:
    body = asdict(x)
    body["event_types"] = list(x.event_types)
    return body


@endpoints_command.command("update")
@_url_option
@click.argument("endpoint_id")
@click.option("--url", "endpoint_url", default=None)
@click.option("--event-type", "event_types", multiple=True, type=click.Choice(EVENT_TYPES))
@click.option("--all-event-types", is_flag=True, help="Clear the event-type filter.")
@click.option("--org-id", default=None)
@click.option("--all-orgs", is_flag=True, help="Clear the org filter.")
@click.option("--description", default=None)
@click.option("--enable/--disable", "enabled", default=None)
def update_endpoint(database_url: str, endpoint_id: str, endpoint_url: str | None,
                    event_types: tuple[str, ...], all_event_types: bool, org_id: str | None,
                    all_orgs: bool, description: str | None, enabled: bool | None) -> None:
    """Change an endpoint's URL, filters, description or state."""
    changes: dict[str, Any] = {}
    if endpoint_url is not None:
        changes["url"] = endpoint_url
    if event_types or all_event_types:
        changes["event_types"] = list(event_types)
    if org_id is not None or all_orgs:
        changes["org_id"] = None if all_orgs else org_id
    if description is not None:
        changes["description"] = description
    if enabled is not None:
        changes["enabled"] = enabled
    with _endpoints(database_url) as e:
        updated = e.update(endpoint_id, **changes)
    click.echo(f"endpoint {updated.endpoint_id} updated")


@endpoints_command.command("delete")
@_url_option
@click.argument("endpoint_id")
def delete_endpoint(database_url: str, endpoint_id: str) -> None:
    """Delete an endpoint, its delivery state and dead letters."""
    with _endpoints(database_url) as e:
        e.delete(endpoint_id)
    click.echo(f"endpoint {endpoint_id} deleted")


@endpoints_command.command("rotate-secret")
@_url_option
@click.argument("endpoint_id")
@click.option("--overlap-hours", type=click.FloatRange(0, 24 * 30),
              default=DEFAULT_OVERLAP.total_seconds() / 3600, show_default=True,
              help="How long the old secret keeps signing too.")
def rotate_secret(database_url: str, endpoint_id: str, overlap_hours: float) -> None:
    """A new signing secret (printed once); the old one signs too during the overlap."""
    with _endpoints(database_url) as e:
        created = e.rotate_secret(endpoint_id, overlap=timedelta(hours=overlap_hours))
    click.echo(f"secret: {created.secret}")


# --- observability and replay ----------------------------------------------------------------


@events_command.command("status")
@_url_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def status_command(database_url: str, as_json: bool) -> None:
    """Per endpoint: state, pending events, lag, attempts, last error, dead letters."""
    with _endpoints(database_url) as e:
        found = e.list()
    if as_json:
        _echo_json([{"endpoint_id": x.endpoint_id, "url": x.url, **asdict(x.status)}
                    for x in found])
        return
    click.echo("ENDPOINT                              STATE     PENDING  LAG(s)  ATTEMPTS  "
               "DEAD  LAST ERROR")
    for x in found:
        s = x.status
        pending = "10000+" if s.pending_events > 10_000 else str(s.pending_events)
        click.echo(f"{x.endpoint_id}  {s.state:<8}  {pending:>7}  {s.lag_seconds:>6.1f}  "
                   f"{s.attempts:>8}  {s.dead_letters:>4}  {s.last_error or '-'}")


@events_command.command("replay")
@_url_option
@click.argument("endpoint_id")
@click.option("--event", "event_ids", multiple=True, type=click.IntRange(min=1),
              help="Only these dead-lettered events (repeatable; default: all of them).")
@click.option("--from-event", type=click.IntRange(min=1), default=None,
              help="Rewind: send everything from this event id on again, in order.")
def replay_command(database_url: str, endpoint_id: str, event_ids: tuple[int, ...],
                   from_event: int | None) -> None:
    """Send dead-lettered events again (or rewind the endpoint with --from-event)."""
    with _endpoints(database_url) as e:
        count = e.replay(endpoint_id, event_ids=list(event_ids) or None,
                         from_event_id=from_event)
    click.echo(f"{count} event(s) queued for {endpoint_id}")
