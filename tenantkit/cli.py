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
    "doctor": "tenantkit.doctor.cli:doctor_command",
    "keys": "tenantkit.tokens.cli:keys_command",
    "token": "tenantkit.tokens.cli:token_command",
    "serve": "tenantkit.server.cli:serve_command",
    "demo": "tenantkit.demo:demo_command",
    "events": "tenantkit.events.cli:events_command",
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


class _LazyGroup(click.Group):
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
def main() -> None:
    """tenantkit: orgs, members and roles in your PostgreSQL, enforced by RLS."""
