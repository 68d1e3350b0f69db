"""`tenantkit keys …` and `tenantkit token …`: a signing key and tokens for local development.

    tenantkit keys generate                 # writes .tenantkit/signing-key.pem (0600)
    tenantkit keys public --format jwks     # what a verifier needs
    tenantkit token --user <uuid> --org <uuid> --role Admin

`keys_command` is a `click.Group`; other modules add subcommands to it with
`keys_command.add_command(...)`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import click

from tenantkit.context import UUID_PATTERN
from tenantkit.tokens.issuer import DEFAULT_ISSUER, DEFAULT_LIFETIME, TokenIssuer
from tenantkit.tokens.principal import OrgMemberInfo

__all__ = ["DEFAULT_KEY_PATH", "keys_command", "token_command"]

#: Where `tenantkit keys generate` writes the key and `token` / `serve` look for it.
DEFAULT_KEY_PATH = Path(".tenantkit/signing-key.pem")
#: tenantkit's default role mapping, highest first (Owner > Admin > Member).
DEFAULT_ROLES = ("Owner", "Admin", "Member")

_key_option = click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_KEY_PATH,
    show_default=True,
    envvar="TENANTKIT_SIGNING_KEY",
    help="Private key PEM file (env TENANTKIT_SIGNING_KEY).",
)


def _write_private(path: Path, data: str, *, force: bool) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    if not force:
        flags |= os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; pass --force to replace it") from None
    except OSError as exc:  # e.g. a symlink, refused by O_NOFOLLOW
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as file:
        # The mode given to open() only applies to a new file; a replaced one keeps its own.
        os.fchmod(file.fileno(), 0o600)
        file.write(data)


def _load_issuer(path: Path, issuer: str = DEFAULT_ISSUER) -> TokenIssuer:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise click.ClickException(
            f"no signing key at {path}; create one with `tenantkit keys generate`"
        ) from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        click.echo(f"warning: {path} is readable by others; chmod 600 it", err=True)
    try:
        return TokenIssuer.from_pem(pem, issuer=issuer)
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def _print_public(issuer: TokenIssuer, fmt: str) -> None:
    if fmt == "jwks":
        click.echo(json.dumps(issuer.jwks(), indent=2))
    else:
        click.echo(issuer.public_key_pem, nl=False)


@click.group("keys")
def keys_command() -> None:
    """Signing keys for tenantkit's own access tokens."""


@keys_command.command("generate")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_KEY_PATH,
    show_default=True,
    help="Where to write the private key (mode 0600).",
)
@click.option("--force", is_flag=True, help="Replace an existing key file.")
@click.option(
    "--print",
    "print_format",
    type=click.Choice(["pem", "jwks"]),
    default=None,
    help="Also print the public key, as PEM or as a JWK set.",
)
def generate_command(out: Path, force: bool, print_format: str | None) -> None:
    """Write a new RSA-2048 private key for signing access tokens."""
    issuer = TokenIssuer.generate()
    _write_private(out, issuer.private_key_pem, force=force)
    click.echo(f"wrote {out} (kid {issuer.kid})", err=True)
    if print_format is not None:
        _print_public(issuer, print_format)


@keys_command.command("public")
@_key_option
@click.option("--format", "fmt", type=click.Choice(["pem", "jwks"]), default="pem")
def public_command(key_path: Path, fmt: str) -> None:
    """Print the public half of a signing key, as PEM or as a JWK set."""
    _print_public(_load_issuer(key_path), fmt)


def _uuid(_ctx: click.Context, _param: click.Parameter, value: object) -> object:
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if item is not None and not UUID_PATTERN.fullmatch(str(item)):
            raise click.BadParameter(f"{item!r} is not a lowercase UUID")
    return value


@click.command("token")
@click.option("--user", "user_id", required=True, callback=_uuid, help="User id (UUID).")
@click.option("--email", default=None, help="The user's email claim.")
@click.option("--org", "org_ids", multiple=True, callback=_uuid, help="Org id (UUID); repeatable.")
@click.option(
    "--role",
    default="Owner",
    show_default=True,
    help="Role in every --org. Owner, Admin and Member imply the roles below them.",
)
@click.option("--permission", "permissions", multiple=True, help="Permission; repeatable.")
@click.option(
    "--active-org",
    default=None,
    callback=_uuid,
    help="Scope the token to this one of the --org ids.",
)
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True, help="The iss claim to sign.")
@click.option(
    "--lifetime",
    type=click.IntRange(min=1),
    default=DEFAULT_LIFETIME,
    show_default=True,
    help="Seconds until the token expires.",
)
@_key_option
def token_command(
    user_id: str,
    email: str | None,
    org_ids: tuple[str, ...],
    role: str,
    permissions: tuple[str, ...],
    active_org: str | None,
    issuer: str,
    lifetime: int,
    key_path: Path,
) -> None:
    """Print an access token for local development, signed with the local key."""
    if active_org is not None and active_org not in org_ids:
        raise click.BadParameter("must be one of the --org ids", param_hint="--active-org")
    implied = DEFAULT_ROLES[DEFAULT_ROLES.index(role) :] if role in DEFAULT_ROLES else (role,)
    orgs = [
        OrgMemberInfo(
            org_id=org_id,
            user_role=role,
            inherited_user_roles_plus_current_role=implied,
            user_permissions=permissions,
        )
        for org_id in dict.fromkeys(org_ids)  # repeated --org values count once
    ]
    signer = _load_issuer(key_path, issuer)
    click.echo(
        signer.issue(
            user_id=user_id, email=email, orgs=orgs, active_org_id=active_org, lifetime=lifetime
        )
    )
