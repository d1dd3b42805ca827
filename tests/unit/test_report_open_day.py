"""The report's step of the last day, still open when the run ended: a projection, never a step taken."""

from __future__ import annotations

from orchestrator.core.progress import ProgressRules
from orchestrator.simulation import outputs
from orchestrator.simulation.report import charts


def test_an_open_day_is_never_shown_as_a_step_advanced_or_held() -> None:
    rules = ProgressRules()
    closed = {"day_closed": True, "advanced": True, "sent": 600, "daily_cap": 1000}
    assert outputs._status(closed, rules) == "advanced"
    open_full = {"day_closed": False, "advanced": False, "sent": 600, "daily_cap": 1000}
    open_short = {**open_full, "sent": 100}
    open_none = {**open_full, "sent": 0}
    got = [outputs._status(r, rules) for r in (open_full, open_short, open_none)]
    assert got == ["open_advance", "open_held", "open"]
    for status in got:
        assert charts.STATUS_LABELS[status].startswith("still open at the end")
        assert status in charts.STATUS_COLORS
