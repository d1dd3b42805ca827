"""The exit codes of `orchestrate`: 0 ok, 1 a check failed or an operation could not be done, 2 bad input
(like click), and the shell's codes for a command a signal stopped (after its cleanup)."""

from __future__ import annotations

import signal

EXIT_FAILED = 1
EXIT_USAGE = 2
#: A command stopped by SIGTERM, as a shell reports a process it killed.
EXIT_TERMINATED = 128 + signal.SIGTERM
#: A command stopped by Ctrl-C.
EXIT_INTERRUPTED = 128 + signal.SIGINT
