"""When a campaign's remaining recipients will be sent at the plan's pace (a pure estimate)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from orchestrator.core.plan import Mode, Plan, allocate_pool
from orchestrator.core.preview import MINUTES_PER_DAY

#: Estimates stop looking this far ahead.
HORIZON_DAYS = 366


def estimate_completion(
    plan: Plan,
    mode: Mode,
    warmup_days: Sequence[int],
    daily_quotas: Sequence[int | None],
    multiplier: float,
    remaining: int,
    left_today: int,
    today: date,
    open_minutes: int = MINUTES_PER_DAY,
) -> date | None:
    """The local date the last of `remaining` sends goes out, if every day is sent in full.

    `left_today` is what the pool may still send today (its daily and hourly caps over the open
    time left already applied); later days assume each identity advances one warm-up day per full
    day, and send the pool's daily cap or its hourly cap over the `open_minutes` of a day's sending
    window, whichever is less (as `plan` counts). None when it is beyond the horizon.
    """
    if remaining <= 0:
        return today
    remaining -= max(left_today, 0)
    if remaining <= 0:
        return today
    days = list(warmup_days)
    for ahead in range(1, HORIZON_DAYS + 1):
        days = [d + 1 for d in days]
        alloc = allocate_pool(plan, mode, days, daily_quotas, multiplier)
        remaining -= min(alloc.pool.daily, alloc.pool.hourly * open_minutes // 60)
        if remaining <= 0:
            return today + timedelta(days=ahead)
    return None
