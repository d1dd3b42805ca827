"""The report's input dict read into typed rows: odd values become zero or are skipped, never an error."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.core.timeline import KINDS, Mark

#: The order outcomes are shown in; any other key follows in the order it came.
OUTCOME_ORDER = ("accepted", "failed", "suppressed", "invalid", "in_doubt", "pending")


@dataclass(frozen=True, slots=True)
class HourRow:
    at: dt.datetime
    identity: str
    planned: int
    actual: int


@dataclass(frozen=True, slots=True)
class DayRow:
    day: dt.date
    identity: str
    warmup_day: int
    sent: int
    daily_cap: int
    status: str


@dataclass(frozen=True, slots=True)
class PoolRow:
    day: dt.date
    ceiling: int  # the pool ceiling: the multiplier x the plan's cap of the most advanced warm-up day
    sent: int
    identities_cap: int | None = None  # what the identities may send together: the sum of their caps


@dataclass(frozen=True, slots=True)
class DomainRow:
    day: dt.date
    group: str
    sent: int


@dataclass(frozen=True, slots=True)
class SignalRow:
    day: dt.date
    accepted: int  # the denominator of bounces, complaints and unsubscribes (as the guardrails judge them)
    delivered: int  # the denominator of opens and clicks
    hard_bounces: int
    soft_bounces: int
    complaints: int
    opens: int
    clicks: int
    unsubscribes: int
    settled: bool = True  # False: some of the day's mail was younger than the guardrails' open window at the end


@dataclass(frozen=True, slots=True)
class EventRow:
    at: str
    type: str
    identity: str
    detail: str


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    sent: int
    days_simulated: float  # virtual time run, in days (2.36); the report's calendar days are `dates`
    wall_seconds: float


@dataclass(slots=True)
class ReportData:
    """Everything the page shows, typed; `dates` is the period's local calendar, day by day."""

    campaign: str
    note: str
    timezone: str
    zone: dt.tzinfo
    start: str
    end: str
    identities: list[str]
    dates: list[dt.date]
    hours: list[HourRow]
    days: list[DayRow]
    pool: list[PoolRow]
    domains: list[DomainRow]
    outcomes: dict[str, int]
    signals: list[SignalRow]
    events: list[EventRow]
    summary: Summary
    marks: list[Mark] = field(default_factory=list)  # guardrail and shaping events, drawn on the time charts
    unused_days: int = 0  # of the period asked for (`--days`), the days after the run stopped
    state: str = ""  # how the campaign ended: completed, paused (the run stops there) or running

    def midnight(self, day: dt.date) -> dt.datetime:
        """The start of a local calendar day, as an aware time."""
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.zone)


def as_int(value: Any) -> int:
    """An integer count; anything unreadable counts as zero."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def as_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _maybe_int(value: Any) -> int | None:
    """An integer count, or None when there is none."""
    return None if value is None else as_int(value)


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def as_time(value: Any) -> dt.datetime | None:
    """An aware ISO 8601 time; a naive one is taken as UTC, an unreadable one is None."""
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def as_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _rows(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    rows = data.get(key) or []
    return [row for row in rows if isinstance(row, dict)]


def _zone(name: str, start: dt.datetime | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # An unknown zone name: the offset of `start` still places every hour on the right day.
        return start.tzinfo if start is not None and start.tzinfo is not None else dt.UTC


def _period(start: dt.datetime | None, end: dt.datetime | None, zone: dt.tzinfo, seen: set[dt.date]) -> list[dt.date]:
    """Every local date from `start` up to `end` (exclusive when `end` is a midnight) and any date with data."""
    dates = set(seen)
    if start is not None and end is not None and end > start:
        first = start.astimezone(zone).date()
        local_end = end.astimezone(zone)
        last = local_end.date() - dt.timedelta(days=1 if local_end.time() == dt.time(0) else 0)
        # A period of years would draw unreadable charts; past this length only the dates with data show.
        if 0 <= (last - first).days <= 400:
            dates.update(first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    if not dates:
        return []
    lo, hi = min(dates), max(dates)
    return [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]


def _hours(data: dict[str, Any]) -> list[HourRow]:
    return [
        HourRow(at, as_text(r.get("identity")), as_int(r.get("planned")), as_int(r.get("actual")))
        for r in _rows(data, "hours")
        if (at := as_time(r.get("t"))) is not None
    ]


def _days(data: dict[str, Any]) -> list[DayRow]:
    return [
        DayRow(
            day,
            as_text(r.get("identity")),
            as_int(r.get("warmup_day")),
            as_int(r.get("sent")),
            as_int(r.get("daily_cap")),
            as_text(r.get("status")),
        )
        for r in _rows(data, "days")
        if (day := as_date(r.get("date"))) is not None
    ]


#: The counts of a signal row, in the order SignalRow has them.
SIGNAL_COUNTS = (
    "accepted",
    "delivered",
    "hard_bounces",
    "soft_bounces",
    "complaints",
    "opens",
    "clicks",
    "unsubscribes",
)


def _signal_row(day: dt.date, r: dict[str, Any]) -> SignalRow:
    """One day of send; a row without `settled` (an older input) is taken as settled."""
    accepted, delivered, hard, soft, complaints, opens, clicks, unsubscribes = (as_int(r.get(k)) for k in SIGNAL_COUNTS)
    settled = r.get("settled") is not False
    return SignalRow(day, accepted, delivered, hard, soft, complaints, opens, clicks, unsubscribes, settled)


def _signals(data: dict[str, Any]) -> list[SignalRow]:
    return [_signal_row(day, r) for r in _rows(data, "signals") if (day := as_date(r.get("date"))) is not None]


def _outcomes(data: dict[str, Any]) -> dict[str, int]:
    raw_outcomes = data.get("outcomes") or {}
    outcomes = {k: as_int(raw_outcomes[k]) for k in OUTCOME_ORDER if k in raw_outcomes}
    outcomes.update({as_text(k): as_int(v) for k, v in raw_outcomes.items() if k not in outcomes})
    return outcomes


def _summary(data: dict[str, Any]) -> Summary:
    raw_summary = data.get("summary") or {}
    return Summary(
        as_int(raw_summary.get("total")),
        as_int(raw_summary.get("sent")),
        as_float(raw_summary.get("days_simulated")),
        as_float(raw_summary.get("wall_seconds")),
    )


def _marks(data: dict[str, Any]) -> list[Mark]:
    """The guardrail and shaping marks; one without a readable time or of an unknown kind is skipped."""
    out = []
    for r in _rows(data, "marks"):
        at, end = as_time(r.get("t")), as_time(r.get("end"))
        kind = as_text(r.get("kind"))
        if at is None or kind not in KINDS:
            continue
        stop = end.timestamp() if end is not None and end >= at else None
        text, ident, subject = as_text(r.get("text")), as_text(r.get("identity")), as_text(r.get("subject"))
        out.append(Mark(at.timestamp(), kind, ident, text, stop, subject))
    return out


def read(data: dict[str, Any]) -> ReportData:
    """The typed view of `data` (the input of `render_report`)."""
    start, end = as_time(data.get("start")), as_time(data.get("end"))
    timezone = as_text(data.get("timezone"))
    zone = _zone(timezone, start)
    hours, days, signals = _hours(data), _days(data), _signals(data)
    pool = [
        PoolRow(day, as_int(r.get("ceiling")), as_int(r.get("sent")), _maybe_int(r.get("identities_cap")))
        for r in _rows(data, "pool")
        if (day := as_date(r.get("date"))) is not None
    ]
    domains = [
        DomainRow(day, as_text(r.get("group")), as_int(r.get("sent")))
        for r in _rows(data, "domains")
        if (day := as_date(r.get("date"))) is not None
    ]
    events = [
        EventRow(as_text(r.get("t")), as_text(r.get("type")), as_text(r.get("identity")), as_text(r.get("detail")))
        for r in _rows(data, "events")
    ]
    identities = list(dict.fromkeys(as_text(i) for i in data.get("identities") or []))
    # An identity with rows but missing from the list still gets its charts.
    identities += [
        i for i in dict.fromkeys([r.identity for r in days] + [r.identity for r in hours]) if i not in identities
    ]
    seen = {r.day for r in days} | {r.day for r in pool} | {r.day for r in domains} | {r.day for r in signals}
    seen |= {r.at.astimezone(zone).date() for r in hours}
    dates = _period(start, end, zone, seen)
    requested = as_int(data.get("days_requested"))
    return ReportData(
        campaign=as_text(data.get("campaign")),
        note=as_text(data.get("note")),
        timezone=timezone,
        zone=zone,
        start=as_text(data.get("start")),
        end=as_text(data.get("end")),
        identities=identities,
        dates=dates,
        hours=hours,
        days=days,
        pool=pool,
        domains=domains,
        outcomes=_outcomes(data),
        signals=signals,
        events=events,
        summary=_summary(data),
        marks=_marks(data),
        unused_days=max(0, requested - len(dates)) if requested else 0,
        state=as_text(data.get("state")),
    )
