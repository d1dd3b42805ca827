"""The executable's entry: its Ctrl-C handler covers the CLI's loading only, respects an ignored Ctrl-C, and
once the command is over a Ctrl-C no longer changes its exit code."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from orchestrator import cli, entry
from orchestrator.core.exit_codes import EXIT_INTERRUPTED


@pytest.fixture(autouse=True)
def _handler_kept() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("started_with", [signal.default_int_handler, signal.SIG_IGN], ids=["default", "ignored"])
def test_the_command_runs_with_the_handler_it_started_with_and_ends_ignoring_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, started_with: object
) -> None:
    """Started with Python's handler, the command runs with it (the loading handler is gone); started with
    Ctrl-C ignored (a background job of a script), it stays ignored. Once the command has ended, Ctrl-C is
    ignored while the interpreter shuts down: a submit that printed its campaign must not exit 130."""
    signal.signal(signal.SIGINT, started_with)  # type: ignore[arg-type]
    during: list[object] = []

    def command() -> None:
        during.append(signal.getsignal(signal.SIGINT))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "main", command)
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == 0
    assert during == [started_with]
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_ctrl_c_before_a_command_takes_it_over_exits_130_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt that reaches the group (a command still loading, or one that does not handle it)
    is exit 130 with nothing printed, not click's "Aborted!" and 1."""

    @click.command("interrupted-here")
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.main.commands, "interrupted-here", interrupted)
    done = CliRunner().invoke(cli.main, ["interrupted-here"])
    assert done.exit_code == EXIT_INTERRUPTED
    assert done.output == ""
