"""The executable's entry: its Ctrl-C handler covers the CLI's loading only, and respects an ignored Ctrl-C."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from orchestrator import entry


@pytest.fixture(autouse=True)
def _handler_kept() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("started_with", [signal.default_int_handler, signal.SIG_IGN], ids=["default", "ignored"])
def test_the_loading_handler_is_gone_once_the_cli_runs(monkeypatch: pytest.MonkeyPatch, started_with: object) -> None:
    """Started with Python's handler, the CLI runs with it again; started with Ctrl-C ignored (a background
    job of a script), it stays ignored: the entry never makes such a process interruptible."""
    signal.signal(signal.SIGINT, started_with)  # type: ignore[arg-type]
    monkeypatch.setattr("sys.argv", ["orchestrate", "--version"])
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == 0
    assert signal.getsignal(signal.SIGINT) is started_with
