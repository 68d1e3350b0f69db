"""The `tenantkit` command line.

Each subcommand lives in the module that owns its concept and is imported only
when invoked, so `tenantkit --help` stays fast and optional extras stay optional.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click.Command; loaded on first use.
_COMMANDS: dict[str, str] = {
    "migrate": "tenantkit.migrate:migrate_command",
    "policies": "tenantkit.tables.cli:policies_command",
    "distribute": "tenantkit.tables.cli:distribute_command",
    "doctor": "tenantkit.doctor.cli:doctor_command",
    "keys": "tenantkit.tokens.cli:keys_command",
    "token": "tenantkit.tokens.cli:token_command",
    "serve": "tenantkit.server.cli:serve_command",
    "demo": "tenantkit.demo:demo_command",
    "events": "tenantkit.events.cli:events_command",
    "roles": "tenantkit.provision:roles_command",
    "sync": "tenantkit.identity.cli:sync_command",
}
# Subcommands that live with another concept: `keys create-integration` belongs
# to the backend API server, which stores integration keys.
_SUBCOMMANDS: dict[str, dict[str, str]] = {
    "keys": {
        "create-integration": "tenantkit.server.cli:create_integration_command",
        # Signed binding's keys belong to the binding (tenantkit.db).
        "binding": "tenantkit.db.signing_cli:binding_command",
    },
}


def _load(cmd_name: str, target: str) -> click.Command | None:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # not built yet in this checkout
        raise click.ClickException(
            f"'tenantkit {cmd_name}' needs the optional dependency {exc.name!r}; "
            f"install tenantkit with the matching extra"
        ) from exc
    command = getattr(module, attr)
    assert isinstance(command, click.Command)
    return command


_DEBUG_HINT = "(--debug shows the traceback)"


def one_line(exc: BaseException) -> str:
    """An unexpected error as one line with a hint: what the user can act on."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, DBAPIError):
        orig = exc.orig
        first = (str(orig).strip().splitlines() or [""])[0] if orig else str(exc)
        if isinstance(exc, OperationalError) and getattr(orig, "sqlstate", None) is None:
            return (
                f"cannot connect to the database: {first}; check --database-url (host, port, "
                f"user, password) and that PostgreSQL is running {_DEBUG_HINT}"
            )
        state = getattr(orig, "sqlstate", None)
        return f"the database refused: {first} (SQLSTATE {state}) {_DEBUG_HINT}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first} {_DEBUG_HINT}"


class _LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        # Every error is one line with a hint; the traceback only with --debug.
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(one_line(exc)) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        command = _load(cmd_name, target) if target else None
        if isinstance(command, click.Group):
            for name, sub_target in _SUBCOMMANDS.get(cmd_name, {}).items():
                if name not in command.commands and (sub := _load(name, sub_target)):
                    command.add_command(sub, name)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="tenantkit")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
def main(debug: bool) -> None:
    """tenantkit: orgs, members and roles in your PostgreSQL, enforced by RLS."""
