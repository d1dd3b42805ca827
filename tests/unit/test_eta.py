"""When a campaign's remaining recipients will be sent (orchestrator/core/eta.py), day by day at the plan's pace."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from orchestrator.core.eta import HORIZON_DAYS, counts_today, estimate_completion
from orchestrator.core.plan import AfterTable, Mode, Plan, PlanRow, allocate_pool, ranks_of
from orchestrator.core.preview import FullPace
from orchestrator.core.progress import ProgressRules

TODAY = date(2026, 12, 1)
#: 100 a day per identity, every day.
FLAT = Plan(rows=(PlanRow(1, 1, 100, 100, 100, 100),), after_table=AfterTable.HOLD)


def _eta(
    plan: Plan,
    days: list[int],
    quotas: list[int | None],
    multiplier: float,
    remaining: int,
    left_today: int,
    minutes: int = 24 * 60,
) -> date | None:
    """The estimate of a warm-up pool with the default progress rules and `minutes` of window every day."""
    pace = FullPace(plan, Mode.WARMUP, quotas, multiplier, ProgressRules())
    return estimate_completion(pace, days, remaining, left_today, TODAY, lambda _: minutes)


@pytest.mark.parametrize(
    ("remaining", "left_today", "days_ahead"),
    [
        pytest.param(0, 0, 0, id="nothing-left"),
        pytest.param(-5, 0, 0, id="negative-remaining"),
        pytest.param(40, 50, 0, id="fits-today"),
        pytest.param(50, 50, 0, id="exactly-today"),
        pytest.param(51, 50, 1, id="one-over-today"),
        pytest.param(150, 50, 1, id="fills-tomorrow"),
        pytest.param(151, 50, 2, id="spills-past-tomorrow"),
        pytest.param(100, -20, 1, id="negative-left-today-counts-as-none"),
        pytest.param(100 * HORIZON_DAYS, 0, HORIZON_DAYS, id="last-day-of-horizon"),
        pytest.param(100 * HORIZON_DAYS + 1, 0, None, id="beyond-horizon"),
    ],
)
def test_eta_counts_whole_days(remaining: int, left_today: int, days_ahead: int | None) -> None:
    """At 100 a day, the estimate is the first day by which `remaining` is used up, or None past the horizon."""
    got = _eta(FLAT, [1], [None], 1.0, remaining, left_today)
    assert got == (None if days_ahead is None else TODAY + timedelta(days=days_ahead))


@pytest.mark.parametrize(
    ("warmup_days", "quotas", "multiplier", "remaining", "days_ahead"),
    [
        # Default plan: day 2 1,500, day 3 2,000, day 4 3,000 a day per identity.
        pytest.param([1], [None], 1.0, 1500, 1, id="ramp-day-two"),
        pytest.param([1], [None], 1.0, 3500, 2, id="ramp-days-two-and-three"),
        pytest.param([1], [None], 1.0, 3501, 3, id="ramp-into-day-four"),
        pytest.param([3], [None], 1.0, 3000, 1, id="starts-from-the-identity-day"),
        # Two identities on day 1: the pool is cut to multiplier x plan(day 2).
        pytest.param([1, 1], [None, None], 1.0, 3000, 2, id="pool-ceiling-binds"),
        pytest.param([1, 1], [None, None], 2.0, 3000, 1, id="pool-doubled"),
        # Tencent's daily quota caps each day.
        pytest.param([1], [500], 1.0, 1000, 2, id="quota-caps-each-day"),
    ],
)
def test_eta_follows_the_plan(
    warmup_days: list[int], quotas: list[int | None], multiplier: float, remaining: int, days_ahead: int
) -> None:
    """Each later day sends the pool's allocation, and an identity whose day counts at that pace moves on a
    warm-up day (one held to a quota of 500 counts day 1 of 1,000 and stays on day 2 of 1,500)."""
    got = _eta(Plan(), warmup_days, quotas, multiplier, remaining, 0)
    assert got == TODAY + timedelta(days=days_ahead)


def test_eta_counts_the_hourly_cap_over_the_open_hours_as_plan_does() -> None:
    """600 a day but 10 an hour: 240 a day in 24 open hours, 90 in a 9-hour window."""
    slow = Plan(rows=(PlanRow(1, 1, 600, 600, 10, 10),), after_table=AfterTable.HOLD)
    assert _eta(slow, [1], [None], 1.0, 480, 0) == TODAY + timedelta(days=2)
    assert _eta(slow, [1], [None], 1.0, 481, 0) == TODAY + timedelta(days=3)
    assert _eta(slow, [1], [None], 1.0, 180, 0, 9 * 60) == TODAY + timedelta(days=2)


@pytest.mark.parametrize(
    ("window", "minute", "left"),
    [
        pytest.param(None, 0, 1440, id="no-window-at-midnight"),
        pytest.param(None, 23 * 60 + 54, 6, id="no-window-late"),
        pytest.param(("09:00", "18:00"), 8 * 60, 540, id="before-the-window"),
        pytest.param(("09:00", "18:00"), 17 * 60, 60, id="inside-the-window"),
        pytest.param(("09:00", "18:00"), 19 * 60, 0, id="after-the-window"),
        pytest.param(("22:00", "06:00"), 5 * 60, 60 + 120, id="wrapping-early-morning"),
        pytest.param(("22:00", "06:00"), 12 * 60, 120, id="wrapping-midday"),
        pytest.param(("22:00", "06:00"), 23 * 60, 60, id="wrapping-late"),
    ],
)
def test_minutes_open_left_today(window: tuple[str, str] | None, minute: int, left: int) -> None:
    from datetime import time

    from orchestrator.core.preview import minutes_open_left

    parsed = None if window is None else (time.fromisoformat(window[0]), time.fromisoformat(window[1]))
    assert minutes_open_left(parsed, minute) == left


@pytest.mark.parametrize(
    ("today_sends", "days_ahead"),
    [
        # Default plan, one identity on day 1 (1,000 a day), 3,000 left after today's last 100.
        pytest.param(None, 2, id="today-counted-as-a-whole-day"),
        pytest.param([100], 3, id="today-too-little-to-count"),
        pytest.param([500], 2, id="today-half-the-cap-counts"),
    ],
)
def test_today_counts_on_what_it_will_have_sent(today_sends: list[int] | None, days_ahead: int) -> None:
    """Late in the day only 100 more can go out: a day of 100 of 1,000 holds day 1 (the pacer's rule),
    so tomorrow sends day 1's 1,000, not day 2's 1,500, and the estimate is a day later."""
    pace = FullPace(Plan(), Mode.WARMUP, [None], 5.0, ProgressRules())
    got = estimate_completion(pace, [1], 3100, 100, TODAY, lambda _: 24 * 60, today_sends)
    assert got == TODAY + timedelta(days=days_ahead)


def test_today_counts_against_the_caps_the_pacer_splits_today() -> None:
    """Seven identities on day 1 share the pool's 5,000 unevenly (714 or 715 each), the odd units rotated by
    the date as the pacer's budget rotates them. Each sending its whole share today counts with
    `advance_min_fraction` 1.0; checked against another day's split, two were held on day 1."""
    ids = [f"id{k}" for k in range(7)]
    pace = FullPace(Plan(), Mode.WARMUP, [None] * 7, 5.0, ProgressRules(advance_min_fraction=1.0), ranks_of(ids))
    today = date(2026, 12, 10)
    split = allocate_pool(Plan(), Mode.WARMUP, [1] * 7, [None] * 7, 5.0, today.toordinal(), ranks_of(ids))
    sends = [c.daily for c in split.identities]
    assert sorted(set(sends)) == [714, 715]
    assert counts_today(pace, [1] * 7, 24 * 60, today, sends) == [True] * 7
    assert counts_today(pace, [1] * 7, 24 * 60, today, [714] * 7).count(False) == 2
