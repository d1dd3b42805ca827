"""`plan` and `status`'s ETA count a day as the pacer's day roll does: on what the day can send."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.core.eta import estimate_completion
from orchestrator.core.preview import FullPace, minutes_on, preview_plan, window_minutes
from tests.unit.test_plan import _campaign  # one minimal campaign for the plan's tests


def test_a_window_too_short_for_half_the_cap_holds_day_one_in_the_preview() -> None:
    """08:00-10:00 at day 1's 200 an hour sends 400 of 1,000: under the half a day needs, so every day of
    the preview stays on day 1 at 400 (as `validate` warns and the pacer does), not days 2, 3, 4."""
    preview = preview_plan(_campaign(sending_window="08:00-10:00"), dt.date(2026, 12, 1), 4)
    assert [d.identities["a"].warmup_day for d in preview] == [1, 1, 1, 1]
    assert [d.cumulative for d in preview] == [400, 800, 1200, 1600]
    wide = preview_plan(_campaign(sending_window="08:00-13:00"), dt.date(2026, 12, 1), 3)  # 1,000 of 1,000
    assert [d.identities["a"].warmup_day for d in wide] == [1, 2, 3]


def test_the_short_day_of_a_daylight_saving_change_counts_its_23_hours() -> None:
    """New York, 24 x the hourly cap a day, every day's cap needed to move on: 2026-03-08 has 23 hours, so
    it cannot send its cap and the next day stays on the same warm-up day; the 25-hour 2026-11-01 can."""
    plan = {"rows": [{"days": "1-10", "daily": 240, "hourly": 10}], "advance_min_fraction": 1.0}
    campaign = _campaign(timezone="America/New_York", plan=plan)
    assert [minutes_on(campaign, dt.date(2026, m, d)) for m, d in ((3, 7), (3, 8), (11, 1))] == [1440, 1380, 1500]
    spring = preview_plan(campaign, dt.date(2026, 3, 7), 3)
    assert [(d.date.isoformat(), d.identities["a"].warmup_day, d.capacity) for d in spring] == [
        ("2026-03-07", 1, 240),
        ("2026-03-08", 2, 230),
        ("2026-03-09", 2, 240),
    ]
    autumn = preview_plan(campaign, dt.date(2026, 10, 31), 3)
    assert [d.identities["a"].warmup_day for d in autumn] == [1, 2, 3]


@pytest.mark.parametrize(
    ("window", "at", "left"),
    [
        pytest.param(None, "2026-11-01T01:00", 24 * 60, id="autumn-whole-day-the-repeated-hour-twice"),
        pytest.param("01:00-04:00", "2026-11-01T00:30", 4 * 60, id="autumn-window-over-the-repeated-hour"),
        pytest.param("09:00-18:00", "2026-11-01T08:00", 9 * 60, id="autumn-window-after-the-change"),
        pytest.param(None, "2026-03-08T01:30", 21 * 60 + 30, id="spring-whole-day-without-the-skipped-hour"),
        pytest.param("01:00-04:00", "2026-03-08T01:30", 90, id="spring-window-over-the-skipped-hour"),
        pytest.param("01:00-04:00", "2026-03-09T01:30", 150, id="a-day-the-clocks-stay"),
    ],
)
def test_the_minutes_left_today_count_real_minutes_on_a_change_day(window: str | None, at: str, left: int) -> None:
    """What `status` counts today's sends on: the real minutes the window is still open, as the pacer
    sends through them. New York's clocks go back at 02:00 on 2026-11-01 and forward on 2026-03-08."""
    from orchestrator.core.preview import minutes_left_on

    campaign = _campaign(timezone="America/New_York", **({"sending_window": window} if window else {}))
    now = dt.datetime.fromisoformat(at).replace(tzinfo=campaign.zone).timestamp()  # the first 01:xx of a repeat
    assert minutes_left_on(campaign, now) == left


def test_the_eta_waits_on_a_day_that_cannot_count() -> None:
    """5,000 left at 400 a day (a 2-hour window holding day 1): 13 days, not the 4 a ramp would take."""
    campaign = _campaign(sending_window="08:00-10:00")
    rules = campaign.plan.progress_rules(campaign.mode)
    pace = FullPace(campaign.build_plan(), campaign.mode, [None], campaign.pool.multiplier, rules)
    today = dt.date(2026, 12, 1)
    assert estimate_completion(pace, [1], 5000, 0, today, lambda d: minutes_on(campaign, d)) == today + dt.timedelta(
        days=13
    )
    wide = _campaign()  # around the clock
    pace = FullPace(wide.build_plan(), wide.mode, [None], wide.pool.multiplier, rules)
    assert estimate_completion(pace, [1], 5000, 0, today, lambda d: minutes_on(wide, d)) == today + dt.timedelta(days=3)


def test_the_eta_counts_the_23_hour_day_as_plan_does() -> None:
    """New York at 10 an hour: 470 more after 2026-03-06 take until 03-08 only if that day had 24 hours;
    with its 23 (230 sends) they end on 03-09, as `plan` shows."""
    plan = {"rows": [{"days": "1-10", "daily": 240, "hourly": 10}]}
    campaign = _campaign(timezone="America/New_York", plan=plan)
    rules = campaign.plan.progress_rules(campaign.mode)
    pace = FullPace(campaign.build_plan(), campaign.mode, [None], campaign.pool.multiplier, rules)
    eta = estimate_completion(pace, [1], 480, 0, dt.date(2026, 3, 6), lambda d: minutes_on(campaign, d))
    assert eta == dt.date(2026, 3, 9)


def test_a_window_over_the_hour_the_clocks_skip_or_repeat_is_an_hour_shorter_or_longer() -> None:
    campaign = _campaign(timezone="America/New_York", sending_window="01:00-04:00")
    days = (dt.date(2026, 3, 7), dt.date(2026, 3, 8), dt.date(2026, 11, 1))
    assert [minutes_on(campaign, d) for d in days] == [180, 120, 240]
    night = _campaign(timezone="America/New_York", sending_window="22:00-02:00")  # wraps midnight
    assert minutes_on(night, dt.date(2026, 3, 8)) == 240  # 00:00-02:00 and 22:00-24:00, before the jump
    assert window_minutes(night.window) == 240


def test_a_day_sends_what_each_identity_can_not_what_the_pool_could() -> None:
    """Two identities, 100 an hour each in a 14-hour window (1,400 a day of a 5,000 cap), one held to 500 a day
    by its quota: the pool's caps alone (10,000 a day, 200 an hour: 2,800) said 2,800 a day; the identities
    send 500 + 1,400 = 1,900, so `plan` and the ETA count 1,900 (a run sent about that: 4,000 took 3 days)."""
    plan = {"rows": [{"days": "1-10", "daily": 5000, "hourly": 100}]}
    identities = [
        {"id": "a", "from": "a@a.example.com", "daily_quota": 500},
        {"id": "b", "from": "b@b.example.com"},
    ]
    campaign = _campaign(identities=identities, plan=plan, sending_window="08:00-22:00")
    preview = preview_plan(campaign, dt.date(2026, 12, 1), 3)
    assert [d.capacity for d in preview] == [1900, 1900, 1900]
    rules = campaign.plan.progress_rules(campaign.mode)
    pace = FullPace(campaign.build_plan(), campaign.mode, [500, None], campaign.pool.multiplier, rules)
    today = dt.date(2026, 12, 1)
    eta = estimate_completion(pace, [1, 1], 4000, 1900, today, lambda d: minutes_on(campaign, d))
    assert eta == dt.date(2026, 12, 3)


@pytest.mark.parametrize(
    ("zone", "window", "day", "minutes"),
    [
        ("Europe/London", "00:30-01:30", dt.date(2026, 3, 29), 30),  # 01:00 -> 02:00: closes at the jump
        ("America/New_York", "01:00-02:30", dt.date(2026, 3, 8), 60),  # ends inside the skipped hour
        ("America/New_York", "02:15-02:45", dt.date(2026, 3, 8), 0),  # wholly inside it: never opens
        ("Europe/London", "01:15-01:45", dt.date(2026, 10, 25), 60),  # inside the repeated hour: twice
        ("Europe/London", "01:15-01:45", dt.date(2026, 10, 26), 30),  # the next, ordinary day
    ],
)
def test_a_window_by_the_skipped_or_repeated_hour_counts_what_the_wall_clock_opens(
    zone: str, window: str, day: dt.date, minutes: int
) -> None:
    """The pacer opens the window by the wall clock (a run sent 202 of 400/h on the London gap day, 0 in a
    window inside New York's skipped hour, 404 in London's repeated one); plan counted 60, 90, 30 and 30 min."""
    assert minutes_on(_campaign(timezone=zone, sending_window=window), day) == minutes
