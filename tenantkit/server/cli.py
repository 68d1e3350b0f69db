"""`tenantkit serve` and `tenantkit keys create-integration`.

    tenantkit serve                      # embedded PostgreSQL, migrated; prints a key
                                         # (tenantkit.server._embedded, not the test harness)
    tenantkit serve --database-url postgresql://owner@db/app \
                    --service-url postgresql://tenantkit_service@db/app
    tenantkit keys create-integration --database-url postgresql://tenantkit_service@db/app
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import click
import sqlalchemy

from tenantkit.database_roles import DatabaseRoles
from tenantkit.db.signing import BindingKey, BindingSigner
from tenantkit.migrate import migrate_and_sign, normalize_url
from tenantkit.orgs import Actor, Management
from tenantkit.server._embedded import embedded_database
from tenantkit.server.guard import DEFAULT_MAX_BODY_BYTES
from tenantkit.tokens import TokenIssuer
from tenantkit.tokens.cli import DEFAULT_KEY_PATH
from tenantkit.tokens.issuer import DEFAULT_ISSUER

__all__ = ["SELF_SERVICE_PREFIX", "create_integration_command", "serve_command"]

#: Where `tenantkit serve` mounts the end-user API (tenantkit.selfservice).
SELF_SERVICE_PREFIX = "/api/self/v1"

def create_integration_key(service_url: str | sqlalchemy.URL, name: str) -> str:
    """A new integration API key (stored hashed); the secret is returned once."""
    engine = sqlalchemy.create_engine(normalize_url(service_url))
    try:
        with engine.begin() as conn:
            created = Management(conn, Actor.service()).api_keys.create(
                kind="integration", name=name
            )
        return created.secret
    finally:
        engine.dispose()


@click.command("create-integration")
@click.option("--database-url", envvar="TENANTKIT_SERVICE_DATABASE_URL", required=True,
              help="Service role's URL (env TENANTKIT_SERVICE_DATABASE_URL).")
@click.option("--name", default="integration", show_default=True, help="A label for the key.")
def create_integration_command(database_url: str, name: str) -> None:
    """Create an integration API key for the backend API and print it (shown once)."""
    click.echo(create_integration_key(database_url, name))


def _issuer(key_path: Path, issuer: str) -> TokenIssuer:
    if key_path.is_file():
        return TokenIssuer.from_pem(key_path.read_bytes(), issuer=issuer)
    click.echo(f"no signing key at {key_path}: tokens are signed with a key that lives only "
               "as long as this process (create one with `tenantkit keys generate`)", err=True)
    return TokenIssuer.generate(issuer=issuer)


@click.command("serve")
@click.option("--database-url", envvar="TENANTKIT_DATABASE_URL", default=None,
              help="Owner role's URL, to migrate (default: start an embedded PostgreSQL).")
@click.option("--service-url", envvar="TENANTKIT_SERVICE_DATABASE_URL", default=None,
              help="Service role's URL, to serve requests.")
@click.option("--app-role", default=DatabaseRoles.app, show_default=True)
@click.option("--service-role", default=DatabaseRoles.service, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_KEY_PATH, show_default=True, envvar="TENANTKIT_SIGNING_KEY",
              help="Private key that signs access tokens.")
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True, help="The tokens' iss.")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Requests per minute per integration key (default: no limit).")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BODY_BYTES,
              show_default=True, help="Larger request bodies are refused with 413.")
@click.option("--no-key", is_flag=True, help="Do not create and print an integration key.")
@click.option("--app-url", envvar="TENANTKIT_APP_DATABASE_URL", default=None,
              help="App role's URL, for the self-service API (embedded: derived).")
@click.option("--accept-url", default="http://localhost:8000/invites/accept?token={token}",
              show_default=True, help="The frontend's invite accept page ({token} replaced).")
@click.option("--smtp-host", default=None, help="Send invites by SMTP (default: the console).")
@click.option("--smtp-port", default=25, show_default=True, type=int)
@click.option("--smtp-from", default="invites@localhost", show_default=True)
def serve_command(
    database_url: str | None, service_url: str | None, app_role: str, service_role: str,
    host: str, port: int, key_path: Path, issuer: str, rate_limit: int | None,
    max_body_bytes: int, no_key: bool, app_url: str | None, accept_url: str,
    smtp_host: str | None, smtp_port: int, smtp_from: str,
) -> None:
    """Serve the PropelAuth-compatible backend API and the self-service API."""
    import uvicorn

    from tenantkit.db import create_engine
    from tenantkit.selfservice import ConsoleInviteSender, InviteSender, SmtpInviteSender
    from tenantkit.selfservice import create_app as create_self_service_app
    from tenantkit.server import RateLimit, create_app
    from tenantkit.tokens import TokenVerifier

    try:
        roles = DatabaseRoles(app=app_role, service=service_role)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    # The app-role engine signs its bindings with TENANTKIT_BINDING_SECRET's keys.
    binding: BindingSigner | None = BindingSigner.from_env()
    with contextlib.ExitStack() as stack:
        if database_url is None:
            click.echo("starting an embedded PostgreSQL ...", err=True)
            if binding is None:
                # A throwaway database: a throwaway key, registered there only.
                binding = BindingSigner([BindingKey.generate("serve")])
            owner, service = stack.enter_context(embedded_database(roles, binding))
            click.echo(f"signed binding on (key {binding.key.key_id})", err=True)
            database_url = owner.render_as_string(hide_password=False)
            service_url = service.render_as_string(hide_password=False)
            app_url = service.set(username=roles.app).render_as_string(hide_password=False)
        else:
            # A new install signs by default and registers the key; else it says what to run.
            migrate_and_sign(normalize_url(database_url), roles, binding)
        serving = normalize_url(service_url or database_url)
        if service_url is None:
            click.echo("warning: serving as the owner role; pass --service-url", err=True)
        if not no_key:
            secret = create_integration_key(serving, "tenantkit serve")
            click.echo(f"integration API key: {secret}")
        engine = sqlalchemy.create_engine(serving, pool_size=10, max_overflow=10)
        stack.callback(engine.dispose)
        signer = _issuer(key_path, issuer)
        app = create_app(engine, issuer=signer,
                         rate_limit=RateLimit(rate_limit) if rate_limit else None,
                         max_body_bytes=max_body_bytes)
        if app_url is not None:
            # End users act on the app role, bound to them: RLS decides.
            app_engine = create_engine(normalize_url(app_url), pool_size=10, max_overflow=10,
                                       signer=binding)
            stack.callback(app_engine.dispose)
            sender: InviteSender = (SmtpInviteSender(smtp_host, smtp_port, sender=smtp_from)
                                    if smtp_host else ConsoleInviteSender())
            app.mount(SELF_SERVICE_PREFIX, create_self_service_app(
                TokenVerifier.for_issuer(signer), app_engine, sender=sender,
                accept_url=accept_url))
            click.echo(f"self-service API at {SELF_SERVICE_PREFIX} (OpenAPI at "
                       f"{SELF_SERVICE_PREFIX}/openapi.json)", err=True)
        else:
            click.echo("no --app-url: the self-service API is not mounted", err=True)
        click.echo(f"serving on http://{host}:{port} (OpenAPI at /openapi.json)", err=True)
        # uvicorn re-raises SIGTERM after its graceful shutdown, with the handler it
        # found installed; make that an exit, so the embedded server is stopped too.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        uvicorn.run(app, host=host, port=port, log_level="info")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
