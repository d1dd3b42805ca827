"""The chaos suite's summary: one line per scenario run, printed at the end of the session."""

from __future__ import annotations

import pytest

_LINES: list[str] = []


@pytest.fixture
def chaos_report() -> list[str]:
    """Where a scenario puts its summary line (printed with the session's summary, failed or not)."""
    return _LINES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("chaos summary")
        for line in _LINES:
            terminalreporter.write_line(line)
