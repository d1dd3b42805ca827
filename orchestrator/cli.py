"""The `orchestrate` command: a click group; each subcommand lives in orchestrator/commands/."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

import click

from orchestrator import __version__
from orchestrator.logging_setup import configure_logging
from orchestrator.settings import Settings, settings_or_exit

#: Subcommand modules under orchestrator.commands, in the order `--help` lists them.
COMMAND_MODULES = (
    "validate",
    "plan",
    "check",
    "submit",
    "status",
    "watch",
    "logs",
    "control",
    "simulate",
    "up",
    "emulator",
    "pacer",
    "worker",
)

#: Exit codes: 0 ok, 1 a check failed or an operation could not be done, 2 bad input (like click).
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass
class AppContext:
    """What every subcommand shares: settings read once."""

    settings: Settings


class OrchestrateGroup(click.Group):
    """Loads the subcommand modules lazily so `orchestrate --help` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names: list[str] = []
        for module in COMMAND_MODULES:
            names.extend(cmd.name for cmd in _load(module) or [] if cmd.name)
        return names

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        for module in COMMAND_MODULES:
            loaded = _load(module)
            if loaded is not None:
                for cmd in loaded:
                    if cmd.name == cmd_name:
                        return cmd
        return None


def _load(module: str) -> list[click.Command] | None:
    try:
        mod = importlib.import_module(f"orchestrator.commands.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"orchestrator.commands.{module}":
            return None
        raise
    cmds = getattr(mod, "COMMANDS", None)
    if cmds is not None:
        return list(cmds)
    return [mod.command]


@click.group(cls=OrchestrateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrate")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Send a bulk e-mail campaign through Tencent Cloud SES on a safe warm-up plan."""
    settings = settings_or_exit()
    # A running `orchestrate up` records its embedded Redis and local emulator: other terminals find them.
    from orchestrator.up_state import with_recorded_state

    settings = with_recorded_state(settings, os.environ)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = AppContext(settings=settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
