"""`tenantkit sync propelauth`: backfill orgs, users and memberships from the provider.

    tenantkit sync propelauth --auth-url https://auth.example.com \\
        --database-url postgresql://tenantkit_service@db/app       # key: $PROPELAUTH_API_KEY

`--backend-url` points propelauth-py at a PropelAuth-compatible API other than
PropelAuth's own (for instance another deployment's `tenantkit serve`).
"""

from __future__ import annotations

import click
import sqlalchemy

from tenantkit.identity._backfill import backfill_propelauth, point_propelauth_py_at
from tenantkit.identity.webhooks.sync import IdentitySync

__all__ = ["sync_command"]


@click.group("sync")
def sync_command() -> None:
    """Bring tenantkit's orgs, users and memberships in line with an identity provider."""


@sync_command.command("propelauth")
@click.option("--auth-url", required=True, help="Your PropelAuth auth URL.")
@click.option("--api-key", envvar="PROPELAUTH_API_KEY", required=True,
              help="The integration API key (default: $PROPELAUTH_API_KEY).")
@click.option("--database-url", envvar="TENANTKIT_SERVICE_DATABASE_URL", required=True,
              help="The service role's database URL (default: $TENANTKIT_SERVICE_DATABASE_URL).")
@click.option("--backend-url", default=None,
              help="A PropelAuth-compatible backend API instead of PropelAuth's.")
@click.option("--page-size", default=100, show_default=True, type=click.IntRange(1, 1000))
def propelauth_command(
    auth_url: str, api_key: str, database_url: str, backend_url: str | None, page_size: int
) -> None:
    """Page through every org and its members with propelauth-py and apply them."""
    try:
        from propelauth_py import init_base_auth
    except ModuleNotFoundError:
        raise click.ClickException(
            "tenantkit sync propelauth needs propelauth-py: pip install 'tenantkit[identity]'"
        ) from None
    if backend_url is not None:
        point_propelauth_py_at(backend_url)
    try:
        auth = init_base_auth(auth_url, api_key)
    except (ValueError, RuntimeError) as error:
        raise click.ClickException(f"cannot reach the provider: {error}") from None
    url = sqlalchemy.make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3, tenantkit's driver
    engine = sqlalchemy.create_engine(url)
    try:
        sync = IdentitySync(engine, provider="propelauth", same_ids=True)
        report = backfill_propelauth(auth, sync, page_size=page_size)
    finally:
        engine.dispose()
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(report.outcomes.items())) or "nothing"
    click.echo(f"synced {report.orgs} orgs and {report.users} users: {outcomes}")
