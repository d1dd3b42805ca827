"""A realistic report input: identities on the default warm-up plan, hour by hour, with holds, idles and signals."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.core.plan import AfterTable, Plan

SEOUL = ZoneInfo("Asia/Seoul")
GROUP_SHARES = {
    "google": 0.27,
    "naver": 0.24,
    "kakao": 0.17,
    "microsoft": 0.09,
    "nate": 0.06,
    "yahoo": 0.05,
    "qq": 0.04,
    "netease": 0.03,
    "apple": 0.02,
    "example.org": 0.02,
    "corp.co.kr": 0.01,
}
#: The sending window of the synthetic campaign: 08:00 to 21:59 local time.
WINDOW_HOURS = range(8, 22)


def _status(identity: int, day_index: int) -> str:
    """news-b holds the step on days 5-6; news-c idles from day 14, stepping back after three idle days."""
    if identity == 1 and day_index in (4, 5):
        return "held"
    if identity == 2 and 13 <= day_index <= 15:
        return "idle"
    if identity == 2 and 16 <= day_index <= 18:
        return "stepped_back"
    return "advanced"


def synthetic_report(
    days: int = 30, identities: int = 3, note: str = "", campaign: str = "spring-news"
) -> dict[str, Any]:
    """The input `render_report` gets from `simulate`: `identities` x `days` x 24 hour rows."""
    rng = random.Random(7)
    plan = Plan(after_table=AfterTable.HOLD)
    names = [f"news-{chr(ord('a') + i)}" for i in range(identities)]
    first = dt.date(2026, 12, 1)
    hours: list[dict[str, Any]] = []
    day_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    pool_sent: dict[dt.date, int] = {}
    warmup = dict.fromkeys(names, 1)
    for d in range(days):
        date = first + dt.timedelta(days=d)
        for i, name in enumerate(names):
            caps = plan.caps(warmup[name])
            status = _status(i, d)
            sent = {"advanced": caps.daily, "held": caps.daily * 2 // 5}.get(status, 0)
            per_hour, extra = divmod(sent, len(WINDOW_HOURS))
            for h in range(24):
                actual = per_hour + (1 if h - WINDOW_HOURS.start < extra else 0) if h in WINDOW_HOURS else 0
                at = dt.datetime.combine(date, dt.time(h), tzinfo=SEOUL)
                hours.append({"t": at.isoformat(), "identity": name, "planned": caps.hourly, "actual": actual})
            day_rows.append(
                {
                    "date": date.isoformat(),
                    "identity": name,
                    "warmup_day": warmup[name],
                    "sent": sent,
                    "daily_cap": caps.daily,
                    "status": status,
                }
            )
            pool_sent[date] = pool_sent.get(date, 0) + sent
            midnight = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0), tzinfo=SEOUL).isoformat()
            if status == "advanced":
                warmup[name] += 1
                detail = f"day {warmup[name] - 1} -> {warmup[name]} ({sent} of {caps.daily} sent)"
                events.append({"t": midnight, "type": "day_advanced", "identity": name, "detail": detail})
            elif status == "held":
                detail = f"day {warmup[name]} held ({sent} of {caps.daily} sent, below half)"
                events.append({"t": midnight, "type": "day_held", "identity": name, "detail": detail})
            elif status == "stepped_back":
                warmup[name] = max(1, warmup[name] - 1)
                detail = f"idle more than 3 days: back to day {warmup[name]}"
                events.append({"t": midnight, "type": "stepped_back", "identity": name, "detail": detail})
    pool = [
        {
            "date": date.isoformat(),
            "ceiling": 5 * plan.caps(max(r["warmup_day"] for r in day_rows if r["date"] == date.isoformat())).daily,
            "sent": sent,
        }
        for date, sent in pool_sent.items()
    ]
    domains = [
        {"date": date.isoformat(), "group": group, "sent": int(sent * share * rng.uniform(0.85, 1.15))}
        for date, sent in pool_sent.items()
        for group, share in GROUP_SHARES.items()
    ]
    signals = []
    for d, (date, sent) in enumerate(pool_sent.items()):
        delivered = int(sent * 0.98)
        hard = 0.065 if d == 9 else rng.uniform(0.005, 0.02)
        complaint = 0.0016 if d == 11 else rng.uniform(0.0002, 0.0008)
        opens = 0.44 if d in (6, 7) else rng.uniform(0.52, 0.62)
        signals.append(
            {
                "date": date.isoformat(),
                "accepted": sent,
                "delivered": delivered,
                "hard_bounces": int(sent * hard),
                "soft_bounces": int(delivered * rng.uniform(0.005, 0.015)),
                "complaints": int(sent * complaint),
                "opens": int(delivered * opens),
                "clicks": int(delivered * opens * 0.12),
                "unsubscribes": int(delivered * 0.002),
            }
        )
    paused = dt.datetime(2026, 12, 11, 0, 0, tzinfo=SEOUL)
    events += [
        {
            "t": paused.isoformat(),
            "type": "campaign_paused",
            "identity": "",
            "detail": "hard-bounce rate 6.5% > 5% on news-a",
        },
        {
            "t": (paused + dt.timedelta(hours=9)).isoformat(),
            "type": "campaign_resumed",
            "identity": "",
            "detail": "resumed by operator",
        },
    ]
    events.sort(key=lambda e: e["t"])
    total_sent = sum(pool_sent.values())
    total = total_sent + 12_000
    failed, suppressed, invalid = total_sent // 300, total_sent // 100, 41
    start = dt.datetime.combine(first, dt.time(0), tzinfo=SEOUL)
    return {
        "campaign": campaign,
        "note": note,
        "timezone": "Asia/Seoul",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(days=days)).isoformat(),
        "identities": names,
        "hours": hours,
        "days": day_rows,
        "pool": pool,
        "domains": domains,
        "outcomes": {
            "accepted": total_sent - failed - suppressed - invalid,
            "failed": failed,
            "suppressed": suppressed,
            "invalid": invalid,
            "in_doubt": 3,
            "pending": total - total_sent - 3,
        },
        "signals": signals,
        "events": events,
        "summary": {
            "total": total,
            "sent": total_sent - failed - suppressed - invalid,
            "days_simulated": days,
            "wall_seconds": 14.2,
        },
    }


def empty_report() -> dict[str, Any]:
    """An empty campaign: every key present, every list empty."""
    return {
        "campaign": "empty",
        "note": "",
        "timezone": "Asia/Seoul",
        "start": "2026-12-01T00:00:00+09:00",
        "end": "2026-12-01T00:00:00+09:00",
        "identities": [],
        "hours": [],
        "days": [],
        "pool": [],
        "domains": [],
        "outcomes": {},
        "signals": [],
        "events": [],
        "summary": {"total": 0, "sent": 0, "days_simulated": 0, "wall_seconds": 0.0},
    }
