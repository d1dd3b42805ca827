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
    candidate = datetime.combine(local.date(), target, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), target, tzinfo=zone)
    change = candidate.astimezone(UTC).timestamp() - now
    return LocalTime(local.date(), local.hour, to_midnight, is_open, change)


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
