"""`simulate`'s progress on stderr: a whole line every 5 % of the virtual period, terminal or not."""

from __future__ import annotations

import pytest

from orchestrator.commands.simulate import _progress_line


def test_a_whole_line_every_five_percent(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _progress_line()
    for frac in (0.0, 0.01, 0.05, 0.07, 0.13, 0.14, 0.5, 1.0):
        progress(frac)
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "    5% of the virtual period",
        "   10% of the virtual period",
        "   50% of the virtual period",
        "  100% of the virtual period",
    ]
    assert "\r" not in err  # never a line a log line written meanwhile would be glued onto
