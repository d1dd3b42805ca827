"""The libraries' log records (arq, asyncio, aiohttp) come out in the process's own format.

Each case runs a fresh interpreter so the root logger it reads is the one `configure_logging` set up,
with its stderr a pipe as under a process supervisor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

from orchestrator.core.clock import SystemClock

ROOT = Path(__file__).resolve().parents[2]


def _stderr_of(fmt: str) -> str:
    code = textwrap.dedent(
        f"""
        import logging
        import structlog
        from orchestrator.logging_setup import configure_logging

        configure_logging({fmt!r}, "INFO")
        logging.getLogger("arq.worker").warning("job %s failed \\x1b[31m", "j1")
        logging.getLogger("arq.worker").info("a line per job, kept off")
        try:
            1 / 0
        except ZeroDivisionError:
            logging.getLogger("asyncio").exception("Task exception was never retrieved")
        structlog.get_logger("orchestrator").info("ours", n=1)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stderr


def test_json_logs_stay_one_object_a_line_with_library_records() -> None:
    lines = _stderr_of("json").splitlines()
    events = [json.loads(line) for line in lines]  # a plain-text line would raise here
    assert [(e.get("logger"), e["level"], e["event"]) for e in events] == [
        ("arq.worker", "warning", "job j1 failed \x1b[31m"),
        ("asyncio", "error", "Task exception was never retrieved"),
        (None, "info", "ours"),
    ]
    assert "ZeroDivisionError" in events[1]["exception"]
    assert all(e["timestamp"].endswith("Z") for e in events)


def test_console_logs_show_a_library_record_without_its_control_bytes() -> None:
    err = _stderr_of("console")
    line = next(row for row in err.splitlines() if "job j1 failed" in row)
    assert "arq.worker" in line
    after = line.split("job j1 failed", 1)[1]
    assert "\\x1b[31m" in after  # the message's escape is shown as text, not obeyed
    assert "\x1b[31m" not in after
    assert "a line per job" not in err


def test_lines_carry_the_clock_they_are_stamped_by() -> None:
    """Within `stamped_by` (a simulation), a line carries the virtual moment, in TimeStamper's format; before
    and after it, the wall clock's."""
    code = textwrap.dedent(
        """
        import structlog
        from orchestrator.core.clock import VirtualClock
        from orchestrator.logging_setup import configure_logging, stamped_by

        configure_logging("json", "INFO")
        log = structlog.get_logger("orchestrator")
        log.warning("before")
        with stamped_by(VirtualClock(1796083200.25)):
            log.warning("inside")
        log.warning("after")
        """
    )
    started = SystemClock().now()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    stamps = {e["event"]: e["timestamp"] for e in map(json.loads, done.stderr.splitlines())}
    assert stamps["inside"] == "2026-12-01T00:00:00.250000Z"
    for wall in (stamps["before"], stamps["after"]):
        assert wall.endswith("Z")
        assert abs(datetime.fromisoformat(wall).timestamp() - started) < 60
