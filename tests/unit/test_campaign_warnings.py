"""What `validate`, `submit`, `plan` and `simulate` warn of in a valid campaign file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.campaign_summary import campaign_warnings
from orchestrator.cli import main
from tests.pipeline_helpers import write_campaign
from tests.unit.test_plan import _campaign


@pytest.mark.parametrize(
    ("window", "day", "fit"),
    [
        # Day 1 of the default table: 1,000 a day at 200 an hour; two hours hold 400, under the 500 it must send.
        pytest.param("08:00-10:00", 1, 400, id="two-hours-stall-day-1"),
        # Four hours carry days 1-4; day 5 (4,500 a day at 500 an hour) fits 2,000, under 2,250.
        pytest.param("08:00-12:00", 5, 2000, id="four-hours-stall-day-5"),
        pytest.param("22:00-02:00", 5, 2000, id="a-window-across-midnight"),
    ],
)
def test_a_window_too_short_for_half_the_daily_cap_is_warned(window: str, day: int, fit: int) -> None:
    [warning] = [w for w in campaign_warnings(_campaign(sending_window=window)) if "advance past day" in w]
    assert f"would never advance past day {day}:" in warning
    assert f"warm-up day {day}:" in warning
    assert f"at most {fit:,} a day" in warning
    assert window in warning


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="around-the-clock"),
        pytest.param({"sending_window": "08:00-22:00"}, id="a-working-day"),
        pytest.param({"sending_window": "08:00-10:00", "mode": "transactional"}, id="transactional-counts-every-day"),
        # The same caps every day, for good: a day that cannot advance loses nothing.
        pytest.param(
            {
                "sending_window": "08:00-10:00",
                "plan": {"rows": [{"days": "1", "daily": 1000, "hourly": 200}], "after_table": "hold"},
            },
            id="flat-for-good",
        ),
    ],
)
def test_a_window_that_fits_warns_nothing(overrides: dict[str, Any]) -> None:
    assert [w for w in campaign_warnings(_campaign(**overrides)) if "advance past day" in w] == []


@pytest.mark.parametrize(
    ("zone", "start", "words"),
    [
        # 00:30-02:30 holds 120 of day 1's 300 at 60 an hour; 2026-11-01 repeats 01:00-02:00: 180 fit then.
        ("America/New_York", "2026-10-30", "would advance past day 1 only on a day the clocks go back (3 h)"),
        ("Asia/Seoul", "2026-10-30", "would never advance past day 1"),
    ],
)
def test_a_window_only_the_long_day_of_a_clock_change_fits_is_named(zone: str, start: str, words: str) -> None:
    """A day the clocks go back holds an hour more: there the identity sends enough to advance (the pacer
    and `plan` advance it), so the warning does not say it never will."""
    plan = {"rows": [{"days": "1", "daily": 300, "hourly": 60}, {"days": "2", "daily": 400, "hourly": 80}]}
    campaign = _campaign(sending_window="00:30-02:30", timezone=zone, start=start, plan=plan)
    [warning] = [w for w in campaign_warnings(campaign) if "advance past day" in w]
    assert words in warning


def test_past_the_table_the_last_row_decides() -> None:
    """From day 31 the default table doubles day by day (25,000 a day at 5,000 an hour on day 30): two hours
    hold 20,000 of day 31's 50,000, under half."""
    ident = [{"id": "a", "from": "a@a.example.com", "warmup_day": 31}]
    [warning] = [
        w
        for w in campaign_warnings(_campaign(sending_window="08:00-10:00", identities=ident))
        if "advance past day" in w
    ]
    assert "warm-up day 31:" in warning


def test_skip_warmup_is_warned() -> None:
    warnings = campaign_warnings(_campaign(mode="skip-warmup", content="signup", plan={"target_daily": 5000}))
    assert any(w.startswith("mode skip-warmup sends without a ramp") for w in warnings)


def test_plan_prints_the_warnings(tmp_path: Path) -> None:
    """`plan` (no Redis) warns as `validate` does, on stderr."""
    path = write_campaign(tmp_path, 10, extra={"sending_window": "08:00-10:00"})
    result = CliRunner().invoke(main, ["plan", str(path), "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "warning: warm-up day 1: at most 400 a day" in result.stderr
    assert "warning" not in result.stdout


@pytest.mark.parametrize(
    ("rows", "day"),
    [
        # Day 2 raises only the hourly cap: day 1 (400 of the 500 it must send) is where the warm-up stays.
        pytest.param([{"days": "1", "daily": 1000, "hourly": 40}, {"days": "2", "daily": 1000, "hourly": 200}], 1),
        # Two flat days before a raise: the warm-up stays on the first of them.
        pytest.param([{"days": "1-2", "daily": 1000, "hourly": 40}, {"days": "3", "daily": 2000, "hourly": 400}], 1),
    ],
)
def test_the_day_named_is_the_one_the_warm_up_stays_on(rows: list[dict[str, Any]], day: int) -> None:
    warnings = campaign_warnings(_campaign(sending_window="08:00-18:00", plan={"rows": rows}))
    [warning] = [w for w in warnings if "advance past day" in w]
    assert f"warm-up day {day}:" in warning
