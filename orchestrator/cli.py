"""The `orchestrate` command: a click group; each subcommand lives in orchestrator/commands/."""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

import click

from orchestrator import __version__
from orchestrator.core.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from orchestrator.core.text import mask_secret, printable
from orchestrator.logging_setup import configure_logging
from orchestrator.settings import SECRET_SETTINGS, Settings, settings_or_exit

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
    "compact",
    "suppress",
    "blocklist",
    "trace",
    "simulate",
    "up",
    "emulator",
    "pacer",
    "worker",
    "web",
)


@dataclass
class AppContext:
    """What every subcommand shares: settings read once."""

    settings: Settings


def echo_error(text: str) -> None:
    """Print user-facing error text on stderr: configured secrets redacted, control characters escaped.

    Every command prints its errors (a campaign file's problems included) through here.
    """
    click.echo("\n".join(printable(line) for line in redact(text).split("\n")), err=True)


#: `NAME=value` (or `NAME: value`) of a secret setting, as an env file or a pasted line holds it.
_SECRET_ASSIGNMENT = re.compile(
    r"\b(" + "|".join(SECRET_SETTINGS) + r")(\s*[=:]\s*)(\"[^\"\n]*\"?|'[^'\n]*'?|\{[^\n]*|[^\s'\",;)\]}]+)",
    re.IGNORECASE,  # pydantic-settings reads `tencentcloud_secret_key=...` too
)


def _masked(m: re.Match[str]) -> str:
    if m.group(2).strip() == ":" and m.string[max(0, m.start() - 2) : m.start()] == ": ":
        return m.group(0)  # `file.yaml:3: REDIS_URL: unknown key ...`: a problem's field, then its own words
    return f"{m.group(1)}{m.group(2)}***"


def redact(text: str) -> str:
    """`text` with every configured secret's value, and the value of any `SECRET_SETTING=...`, shown as ***."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(AppContext) if ctx is not None else None
    if app is not None:
        for secret in app.settings.secret_values():
            text = mask_secret(text, secret)
    return _SECRET_ASSIGNMENT.sub(_masked, text)


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange, which lets `nan` through every bound, without it (nor `inf`)."""

    name = "float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = float(super().convert(value, param, ctx))
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class OrchestrateGroup(click.Group):
    """Loads the subcommand modules lazily so `orchestrate --help` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names: list[str] = []
        for module in COMMAND_MODULES:
            names.extend(cmd.name for cmd in _load(module) or [] if cmd.name)
        return names

    def invoke(self, ctx: click.Context) -> Any:
        """The command; Ctrl-C that reaches here (before a command took it over, or one it does not handle)
        exits 130 with nothing printed, as the shell reports an interrupted command, not click's "Aborted!"
        and 1."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

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
    _refuse_undecodable_argv(sys.argv[1:])
    settings = settings_or_exit()
    if "--help" not in sys.argv[1:]:  # help reaches nothing: a broken record must not hide it
        settings = _with_recorded_state(settings, ctx.invoked_subcommand)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = AppContext(settings=settings)


#: Commands that reach neither a Redis nor Tencent through the settings: what a running `up` recorded is
#: no concern of theirs (`up` starts its own, `simulate` runs on its own), so a broken record never stops them.
_NEEDS_NO_RECORDED_STATE = frozenset({"validate", "plan", "simulate", "emulator", "up"})


def _with_recorded_state(settings: Settings, command: str | None) -> Settings:
    """The settings with what a running `orchestrate up` recorded (its embedded Redis, its local emulator),
    so other terminals find them. A record that cannot be used stops a command that would use it (exit 2,
    one line); any other command warns and goes on without it."""
    from orchestrator.up_state import StateFileError, with_recorded_state

    try:
        return with_recorded_state(settings, os.environ)
    except StateFileError as exc:
        if command is None or command in _NEEDS_NO_RECORDED_STATE:
            echo_error(f"warning: {exc} (ignored: `{command or 'orchestrate'}` does not use what `up` started)")
            return settings
        echo_error(f"error: {exc}; remove it if no `orchestrate up` is running")
        raise SystemExit(EXIT_USAGE) from None


def _refuse_undecodable_argv(argv: list[str]) -> None:
    """Exit 2 with one line when an argument is not UTF-8: it could be neither stored, printed nor opened alike."""
    for position, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # Python keeps undecodable bytes as lone surrogates
            echo_error(f"error: argument {position} ({arg}) is not valid UTF-8 text")
            raise SystemExit(EXIT_USAGE) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
