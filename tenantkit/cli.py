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
    "doctor": "tenantkit.doctor:doctor_command",
    "keys": "tenantkit.keys_cli:keys_command",
    "token": "tenantkit.keys_cli:token_command",
    "serve": "tenantkit.server.cli:serve_command",
    "demo": "tenantkit.demo:demo_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
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


@click.group(cls=_LazyGroup)
@click.version_option(package_name="tenantkit")
def main() -> None:
    """tenantkit: orgs, members and roles in your PostgreSQL, enforced by RLS."""
