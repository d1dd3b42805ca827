"""The `orchestrate` executable: the CLI, and a Ctrl-C while it loads ends it quietly."""

from __future__ import annotations

import os
import signal
from types import FrameType

from orchestrator.core.exit_codes import EXIT_INTERRUPTED


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    # Nothing has begun, so there is nothing to clean up: leave at once. (A KeyboardInterrupt raised inside
    # an import prints a traceback, or, landing in one of importlib's callbacks, is printed and lost.)
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    """Load and run the CLI; Ctrl-C while it loads exits 130 with nothing printed, and once the command is over
    (its output printed, its exit code set) Ctrl-C no longer changes that code as the interpreter shuts down."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not when started with Ctrl-C ignored (a background job)
        signal.signal(signal.SIGINT, _interrupted_while_loading)
    try:
        from orchestrator.cli import main as cli
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        cli()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
