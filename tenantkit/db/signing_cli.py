"""`tenantkit keys binding ...`: the signed-binding keys, managed as the owner.

Rotation with no downtime, two keys live at once:

    tenantkit keys binding new k2          # prints k2:<secret>; store it as a secret
    tenantkit keys binding add k2:<secret> # the database accepts k1 and k2
    # deploy the app with TENANTKIT_BINDING_SECRET=k2:<secret>,k1:<secret>, then k2 only
    tenantkit keys binding retire k1       # k1's signatures bind nothing from now on
"""

from __future__ import annotations

import sys

import click
import psycopg
from sqlalchemy import make_url

from tenantkit.db.signing import (
    ENV_VAR,
    BindingKey,
    BindingSigner,
    add_key,
    list_keys,
    retire_key,
    set_signing,
    signing_state,
)

__all__ = ["binding_command", "sign_new_install"]

#: What to run when signing is on and no key is live (printed by migrate and serve).
ADD_A_KEY = (
    "  tenantkit keys binding new k1                # prints k1:<secret>; keep it as a secret\n"
    "  tenantkit keys binding add k1:<secret> --database-url <owner URL>\n"
    f"  export {ENV_VAR}=k1:<secret>     # for the app (or @/path/to/file)"
)
OPT_OUT = "tenantkit keys binding disable --database-url <owner URL>"

_url = click.option(
    "--database-url",
    envvar="TENANTKIT_DATABASE_URL",
    required=True,
    help="Owner role's URL (default: $TENANTKIT_DATABASE_URL).",
)


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url).set(drivername="postgresql")
    return psycopg.connect(parsed.render_as_string(hide_password=False), autocommit=True)


@click.group("binding")
def binding_command() -> None:
    """Keys that sign tenant bindings (SQL injection cannot impersonate anyone)."""


@binding_command.command("new")
@click.argument("key_id")
def new_command(key_id: str) -> None:
    """Print a fresh key as KEY_ID:SECRET (for TENANTKIT_BINDING_SECRET and `add`)."""
    click.echo(BindingKey.generate(key_id).export())


@binding_command.command("add")
@click.argument("key")
@click.option("--enable", is_flag=True, help="Also turn signed binding on.")
@_url
def add_command(key: str, enable: bool, database_url: str) -> None:
    """Store KEY's verifier (KEY_ID:SECRET, or '-' to read it from stdin)."""
    text = sys.stdin.read() if key == "-" else key
    try:
        parsed = BindingKey.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    with _connect(database_url) as conn:
        add_key(conn, parsed)
        if enable:
            set_signing(conn, True)
    click.echo(f"binding key {parsed.key_id} is live" + (", signing on" if enable else ""))


@binding_command.command("retire")
@click.argument("key_id")
@_url
def retire_command(key_id: str, database_url: str) -> None:
    """Retire KEY_ID: its signatures bind nothing from the next statement on."""
    with _connect(database_url) as conn:
        if not retire_key(conn, key_id):
            raise click.ClickException(f"no live binding key {key_id!r}")
    click.echo(f"binding key {key_id} retired")


@binding_command.command("enable")
@_url
def enable_command(database_url: str) -> None:
    """Turn signed binding on (needs a live key)."""
    with _connect(database_url) as conn:
        if not set_signing(conn, True):
            raise click.ClickException("add a binding key first: no binding could verify")
    click.echo("signed binding on")


@binding_command.command("disable")
@_url
def disable_command(database_url: str) -> None:
    """Turn signed binding off (the ids alone bind again: SQL injection can impersonate)."""
    with _connect(database_url) as conn:
        set_signing(conn, False)
    click.echo("signed binding off")
    click.echo(
        "warning: SQL running as the app role can now set tenantkit.user_id and org_id and "
        "act as any member of any org; `tenantkit doctor` warns until `enable`",
        err=True,
    )


@binding_command.command("list")
@_url
def list_command(database_url: str) -> None:
    """The keys (ids and dates, never secrets) and whether signing is on."""
    with _connect(database_url) as conn:
        rows = list_keys(conn)
        on = conn.execute("SELECT signed_binding FROM tenantkit.settings").fetchone()
    click.echo(f"signed binding: {'on' if on and on[0] else 'off'}")
    for key_id, created, retired, _ in rows:
        state = f"retired {retired:%Y-%m-%d %H:%M}" if retired else "live"
        click.echo(f"{key_id}\tadded {created:%Y-%m-%d %H:%M}\t{state}")


def sign_new_install(
    conn: psycopg.Connection[tuple[object, ...]], *, fresh: bool, signer: BindingSigner | None
) -> list[str]:
    """After `tenantkit migrate`: register `signer`'s keys on a fresh install; what to say.

    Keys are registered only on a database this run installed: on an existing
    one `add` would re-activate a key that was retired on purpose. Every line
    returned is for stderr; none carries a secret.
    """
    on, live = signing_state(conn)
    if fresh and on and signer is not None:
        for key in signer.keys:
            add_key(conn, key)
        ids = ", ".join(key.key_id for key in signer.keys)
        return [f"signed binding on (a new install signs by default), key {ids} registered"]
    if on and live == 0:
        return [
            "signed binding on (a new install signs by default) and no binding key is "
            "registered yet: the app's connections are refused (BindingError) until you run",
            ADD_A_KEY,
            f"or opt out (SQL injection can then impersonate any member): {OPT_OUT}",
        ]
    if on:
        return []
    why = "opted out" if fresh else "this database was installed before signing was the default"
    return [
        f"warning: signed binding is off ({why}): SQL running as the app role can set "
        "tenantkit.user_id and org_id and act as any member of any org; turn it on with",
        ADD_A_KEY.replace("--database-url", "--enable --database-url"),
    ]
