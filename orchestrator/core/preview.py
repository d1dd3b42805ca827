"""The plan preview: day by day, each identity's warm-up day and caps and the pool's, at full pace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.core.budget import quota_counts
from orchestrator.core.calendar import start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.plan import Caps, Mode, Plan, PoolAllocation, allocate_pool, ranks_of
from orchestrator.core.progress import ProgressRules, day_counts

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class IdentityDay:
    """One identity on one preview day: its warm-up day and its caps (its fair share when bound)."""

    warmup_day: int
    caps: Caps
    day_cap: int = 0  # the daily cap its day counts against (core/budget.day_caps); 0: `caps.daily`


@dataclass(frozen=True, slots=True)
class PreviewDay:
    """One calendar day of the preview."""

    day: int  # 1 = the first day of the campaign
    date: dt.date
    identities: dict[str, IdentityDay]
    pool: Caps  # the sum of the identities' caps; never above multiplier x plan(most advanced day)
    capacity: int  # what the pool can send that day: its daily cap, or less when the window is short
    cumulative: int  # capacity of this day and every day before it


def window_minutes(window: tuple[dt.time, dt.time] | None) -> int:
    """Minutes a day inside the sending window ('22:00-06:00' wraps midnight); no window is 24 h."""
    if window is None:
        return MINUTES_PER_DAY
    start, end = (t.hour * 60 + t.minute for t in window)
    return (end - start) % MINUTES_PER_DAY


def minutes_on(campaign: Campaign, day: dt.date) -> int:
    """Real minutes the sending window is open on local date `day`, as the pacer opens it (by the wall clock),
    so a daylight-saving change counts: the day itself is 23 or 25 hours, a window over the hour the clocks
    skip is that much shorter (one inside it never opens) and one over the hour they repeat that much longer."""
    zone = campaign.zone
    first, last = start_of(day, zone), start_of(day + dt.timedelta(days=1), zone)
    if _clocks_stay(first, last, zone):
        return window_minutes(campaign.window)
    return _real_minutes_open(campaign, first, last)


def minutes_left_on(campaign: Campaign, now: float) -> int:
    """Real minutes the sending window is still open from `now`'s minute to the end of its local day, as
    minutes_on counts a whole day: on a daylight-saving change day the hour the clocks repeat counts
    twice and the one they skip not at all."""
    zone = campaign.zone
    local = dt.datetime.fromtimestamp(now, tz=zone)
    first, last = start_of(local.date(), zone), start_of(local.date() + dt.timedelta(days=1), zone)
    if _clocks_stay(first, last, zone):
        return minutes_open_left(campaign.window, local.hour * 60 + local.minute)
    return _real_minutes_open(campaign, first + (now - first) // 60 * 60, last)


def _clocks_stay(first: float, last: float, zone: ZoneInfo) -> bool:
    """Whether the local day from `first` to `last` (its midnights) is 24 hours on one UTC offset."""
    return last - first == 86_400 and _offset(first, zone) == _offset(last - 1, zone)


def _real_minutes_open(campaign: Campaign, since: float, until: float) -> int:
    """The real minutes from `since` to `until` the window is open, each read on the wall clock."""
    window, zone = campaign.window, campaign.zone
    if window is None:
        return int(until - since) // 60
    start, end = (t.hour * 60 + t.minute for t in window)
    open_minutes = 0
    for t in range(int(since), int(until), 60):
        local = dt.datetime.fromtimestamp(t, tz=zone)
        m = local.hour * 60 + local.minute
        open_minutes += (start <= m < end) if start < end else (m >= start or m < end)
    return open_minutes


def _offset(at: float, zone: ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(at, tz=zone).utcoffset()


def minutes_open_left(window: tuple[dt.time, dt.time] | None, minute_of_day: int) -> int:
    """Minutes of the sending window still ahead today from `minute_of_day` (0-1439) to midnight."""
    if window is None:
        return MINUTES_PER_DAY - minute_of_day
    start, end = (t.hour * 60 + t.minute for t in window)
    if start <= end:  # 09:00-18:00
        return max(0, end - max(minute_of_day, start))
    # 22:00-06:00: open from midnight to the end, and from the start to midnight
    return max(0, end - minute_of_day) + MINUTES_PER_DAY - max(minute_of_day, start)


def day_capacity(alloc: PoolAllocation, minutes: int) -> int:
    """What a day can send with its window open `minutes`: each identity its daily cap or its hourly cap over
    those minutes, whichever is less, and the pool no more than its own daily cap or hourly cap over them."""
    each = sum(min(c.daily, c.hourly * minutes // 60) for c in alloc.identities)
    return min(each, alloc.pool.daily, alloc.pool.hourly * minutes // 60)


@dataclass(frozen=True, slots=True)
class FullPace:
    """A pool's days when every identity sends all it may: the one rule `plan` and `status`'s ETA count by."""

    plan: Plan
    mode: Mode
    quotas: Sequence[int | None]
    multiplier: float
    rules: ProgressRules
    ranks: Sequence[int] = ()  # core/plan.ranks_of the identities' ids, as the pacer's budget splits

    def day(
        self, warmup_days: Sequence[int], minutes: int, rotate: int = 0
    ) -> tuple[PoolAllocation, PoolAllocation, list[bool]]:
        """The caps of a day on `warmup_days` with `minutes` of sending window (fair shares where the pool
        binds), the caps without Tencent's quota where it does not count (core/budget.quota_counts), and
        whether each identity's day counts: a day sends its cap, or its hourly cap over the window's
        hours when that is less, and counts on that as the pacer's day roll counts what was sent (a
        window too short for the plan holds day 1; a quota under the day's share holds it)."""
        alloc = allocate_pool(self.plan, self.mode, warmup_days, self.quotas, self.multiplier, rotate, self.ranks)
        day_quotas = self.quotas if quota_counts(self.mode) else [None] * len(self.quotas)
        plain = allocate_pool(self.plan, self.mode, warmup_days, day_quotas, self.multiplier, rotate, self.ranks)
        counted = [
            day_counts(min(c.daily, c.hourly * minutes // 60), p.daily, self.rules)
            for c, p in zip(alloc.identities, plain.identities, strict=True)
        ]
        return alloc, plain, counted


def preview_plan(campaign: Campaign, start: dt.date, days: int = 30) -> list[PreviewDay]:
    """The first `days` days from `start`, assuming every identity sends all it may every day: its cap, or
    its hourly cap over the sending window's hours (that day's: 23 or 25 on a daylight-saving change).

    Each identity starts on its `warmup_day` and moves on after a full day, with scale, target_daily
    and the Tencent daily quota applied, and fair shares where the pool binds; a day its quota keeps
    under the share of the plan's cap a day needs does not count (core/budget.day_caps), so an
    identity held to 500 a day stays on warm-up day 2 of the default plan.
    """
    plan = campaign.build_plan()
    quotas = [i.daily_quota for i in campaign.identities]
    rules = campaign.plan.progress_rules(campaign.mode)
    preview: list[PreviewDay] = []
    cumulative = 0
    warmup_days = [i.warmup_day for i in campaign.identities]
    counted = [False] * len(warmup_days)  # whether each identity's previous day counted
    ranks = ranks_of([i.id for i in campaign.identities])
    pace = FullPace(plan, campaign.mode, quotas, campaign.pool.multiplier, rules, ranks)
    for k in range(days):
        minutes = minutes_on(campaign, start + dt.timedelta(days=k))
        warmup_days = [d + 1 if c else d for d, c in zip(warmup_days, counted, strict=True)]
        # The remainder of an uneven split goes to a different identity each day, rotated by the date
        # as the pacer's budget rotates it (core/budget.budget_now).
        alloc, plain, counted = pace.day(warmup_days, minutes, rotate=(start + dt.timedelta(days=k)).toordinal())
        capacity = day_capacity(alloc, minutes)
        cumulative += capacity
        identities = {
            ident.id: IdentityDay(day, caps, p.daily)
            for ident, day, caps, p in zip(
                campaign.identities, warmup_days, alloc.identities, plain.identities, strict=True
            )
        }
        preview.append(PreviewDay(k + 1, start + dt.timedelta(days=k), identities, alloc.pool, capacity, cumulative))
    return preview


def reach_day(preview: list[PreviewDay], recipients: int) -> PreviewDay | None:
    """The first day by which `recipients` messages fit in the cumulative capacity, if any."""
    if recipients <= 0:
        return None
    return next((d for d in preview if d.cumulative >= recipients), None)


def preview_json(name: str, preview: list[PreviewDay]) -> dict[str, Any]:
    """The preview as `orchestrate plan --json` prints it."""
    return {
        "campaign": name,
        "days": [
            {
                "day": d.day,
                "date": d.date.isoformat(),
                "identities": {
                    ident: {
                        "warmup_day": i.warmup_day,
                        "daily_cap": i.caps.daily,
                        "hourly_cap": i.caps.hourly,
                    }
                    for ident, i in d.identities.items()
                },
                "pool": {"daily_cap": d.pool.daily, "hourly_cap": d.pool.hourly},
            }
            for d in preview
        ],
    }
