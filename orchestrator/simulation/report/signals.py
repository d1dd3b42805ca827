"""The report's delivery and engagement signals, from what the orchestrator recorded (the feedback store)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from orchestrator.core.quality import HOUR_S
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


async def recorded_signals(redis: Redis, cid: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Per local day of SEND (the events' cohorts): the campaign's counts as the orchestrator recorded them."""
    hours = await FeedbackStore(redis).campaign_hours(cid)
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    for hour, metrics in hours.items():
        day = datetime.fromtimestamp(hour * HOUR_S, tz=zone).date().isoformat()
        for metric, count in metrics.items():
            if metric in SIGNAL_NAMES:
                by_day[day][SIGNAL_NAMES[metric]] += count
    return [{"date": d, **dict(c)} for d, c in sorted(by_day.items())]
