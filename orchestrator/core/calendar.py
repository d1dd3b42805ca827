"""Local dates, hours and sending windows in a campaign's time zone (pure: the time is an argument)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class LocalTime:
    date: date
    hour: int
    to_midnight_s: float  # seconds until the next local midnight
    window_open: bool
    window_change_s: float  # seconds until the window opens (when closed) or closes (when open)


def _next_midnight(local: datetime, zone: ZoneInfo) -> datetime:
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone)


def local_time(now: float, zone: ZoneInfo, window: tuple[time, time] | None = None) -> LocalTime:
    """Where `now` falls in the campaign's calendar and sending window."""
    local = datetime.fromtimestamp(now, tz=zone)
    to_midnight = (_next_midnight(local, zone).astimezone(UTC).timestamp()) - now
    if window is None:
        return LocalTime(local.date(), local.hour, to_midnight, True, to_midnight)
    start, end = window
    t = local.time().replace(tzinfo=None)
    is_open = (start <= t < end) if start < end else (t >= start or t < end)
    target = end if is_open else start
    # Compared as instants, not as wall times of one zone (Python compares those ignoring `fold`): on the
    # day the clocks go back, 01:45 at 01:10 the second time is the 01:45 still to come, not the one past.
    days = (local.date(), local.date() + timedelta(days=1))
    change = next(t for day in days for t in wall_instants(day, target, zone) if t > now) - now
    return LocalTime(local.date(), local.hour, to_midnight, is_open, change)


def wall_instants(day: date, wall: time, zone: ZoneInfo) -> list[float]:
    """The epoch times at which the wall clock of `zone` reads `wall` on `day`, earliest first: one on most
    days, two in the hour the clocks repeat; in the hour they skip it never reads `wall`, and the instant
    they jump (from which on it reads later than `wall`) stands in for it."""
    first = datetime.combine(day, wall, tzinfo=zone)
    a, b = first.timestamp(), first.replace(fold=1).timestamp()
    if a <= b:  # one instant, or the same wall time twice (fold=0 is the first)
        return [a] if a == b else [a, b]
    # Skipped: fold=1 read it with the offset after the jump (an instant before it), fold=0 with the offset
    # before (an instant after it). The jump lies between: the first second with the new offset.
    before = datetime.fromtimestamp(b, tz=zone).utcoffset()
    lo, hi = b, a
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz=zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return [hi]


def midnight_after(now: float, zone: ZoneInfo) -> float:
    """The epoch time of the next local midnight after `now`."""
    local = datetime.fromtimestamp(now, tz=zone)
    return _next_midnight(local, zone).astimezone(UTC).timestamp()


def start_of(day: date, zone: ZoneInfo) -> float:
    """The epoch time of local midnight at the start of `day`."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC).timestamp()


#: Tencent counts a sender domain's daily quota in China time.
TENCENT_ZONE = ZoneInfo("Asia/Shanghai")


def tencent_day(now: float) -> tuple[str, float]:
    """Tencent's quota day at `now` (ISO date, China time) and the seconds until it turns."""
    local = datetime.fromtimestamp(now, tz=TENCENT_ZONE)
    return local.date().isoformat(), midnight_after(now, TENCENT_ZONE) - now
