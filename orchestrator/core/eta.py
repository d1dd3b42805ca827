"""When a campaign's remaining recipients will be sent at the plan's pace (a pure estimate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

from orchestrator.core.preview import MINUTES_PER_DAY, FullPace, day_capacity
from orchestrator.core.progress import day_counts

#: Estimates stop looking this far ahead.
HORIZON_DAYS = 366


def estimate_completion(
    pace: FullPace,
    warmup_days: Sequence[int],
    remaining: int,
    left_today: int,
    today: date,
    open_minutes: Callable[[date], int] = lambda _: MINUTES_PER_DAY,
    today_sends: Sequence[int] | None = None,
) -> date | None:
    """The local date the last of `remaining` sends goes out, if every day is sent in full.

    `left_today` is what the pool may still send today (its daily and hourly caps over the open
    time left already applied); later days send the pool's daily cap or its hourly cap over the
    minutes its window is open that day (`open_minutes`: core/preview.minutes_on), whichever is less,
    and no more than its identities' own caps allow (core/preview.day_capacity),
    and an identity moves on a warm-up day after a day that counts at that pace (core/preview.FullPace,
    as `plan` counts). `today_sends`, once today has begun: what each identity will have sent by its end
    (what it sent and what it may still send), on which today counts, not on a whole day. None when it is
    beyond the horizon.
    """
    if remaining <= 0:
        return today
    remaining -= max(left_today, 0)
    if remaining <= 0:
        return today
    days = list(warmup_days)
    counted = counts_today(pace, days, open_minutes(today), today, today_sends)
    for ahead in range(1, HORIZON_DAYS + 1):
        day = today + timedelta(days=ahead)
        minutes = open_minutes(day)
        days = [d + 1 if c else d for d, c in zip(days, counted, strict=True)]
        alloc, _, counted = pace.day(days, minutes, day.toordinal())
        remaining -= day_capacity(alloc, minutes)
        if remaining <= 0:
            return today + timedelta(days=ahead)
    return None


def counts_today(
    pace: FullPace, warmup_days: Sequence[int], minutes: int, today: date, today_sends: Sequence[int] | None
) -> list[bool]:
    """Whether each identity's today moves its warm-up on: on a whole day's sends, or on `today_sends`, against
    today's caps with the uneven split's odd units rotated by the date, as the pacer's budget rotates them."""
    _, plain, counted = pace.day(warmup_days, minutes, today.toordinal())
    if today_sends is None:
        return counted
    return [day_counts(n, p.daily, pace.rules) for n, p in zip(today_sends, plain.identities, strict=True)]
