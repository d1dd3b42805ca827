"""The report's delivery and engagement signals, from what the orchestrator recorded (the feedback store)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from orchestrator.core.quality import HOUR_S, window_hours
from orchestrator.store.feedback import FeedbackStore

#: The store's metrics, by the name the report gives them.
SIGNAL_NAMES: Final = {
    "accepted": "accepted",
    "delivered": "delivered",
    "hard_bounce": "hard_bounces",
    "soft_bounce": "soft_bounces",
    "complaint": "complaints",
    "open": "opens",
    "click": "clicks",
    "unsubscribe": "unsubscribes",
}


async def recorded_signals(redis: Redis, cid: str, zone: ZoneInfo, now: float, window_s: int) -> list[dict[str, Any]]:
    """Per local day of SEND (the events' cohorts): the campaign's counts as the orchestrator recorded them.

    At `now` (the end of the run), with the guardrails' `window_s`, each day also says whether it is
    `settled`: every cohort of it old enough at `now` for the guardrails to judge its opens (core/quality.py
    `window_hours`); a day with younger mail has opens and complaints still arriving."""
    hours = await FeedbackStore(redis).campaign_hours(cid)
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    newest: dict[str, int] = {}
    for hour, metrics in hours.items():
        day = datetime.fromtimestamp(hour * HOUR_S, tz=zone).date().isoformat()
        newest[day] = max(newest.get(day, hour), hour)
        for metric, count in metrics.items():
            if metric in SIGNAL_NAMES:
                by_day[day][SIGNAL_NAMES[metric]] += count
    judged_up_to = window_hours(now, "open", window_s).stop  # the first cohort too young to judge opens on
    return [{"date": d, **dict(c), "settled": newest[d] < judged_up_to} for d, c in sorted(by_day.items())]
