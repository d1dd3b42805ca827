"""Local dates, midnights and sending windows (orchestrator/core/calendar.py), across DST and China time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.calendar import TENCENT_ZONE, LocalTime, local_time, midnight_after, start_of, tencent_day

HOUR = 3600.0


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("zone", "day", "start", "length_h"),
    [
        pytest.param("UTC", date(2026, 12, 1), _utc(2026, 12, 1), 24, id="utc"),
        pytest.param("Asia/Seoul", date(2026, 12, 2), _utc(2026, 12, 1, 15), 24, id="seoul"),
        pytest.param("Asia/Shanghai", date(2026, 12, 2), _utc(2026, 12, 1, 16), 24, id="china"),
        pytest.param("America/New_York", date(2026, 3, 8), _utc(2026, 3, 8, 5), 23, id="new-york-spring-forward"),
        pytest.param("America/New_York", date(2026, 11, 1), _utc(2026, 11, 1, 4), 25, id="new-york-fall-back"),
        pytest.param("Europe/London", date(2026, 3, 29), _utc(2026, 3, 29), 23, id="london-spring-forward"),
        pytest.param("Europe/London", date(2026, 10, 25), _utc(2026, 10, 24, 23), 25, id="london-fall-back"),
        # Chile moves its clocks at midnight: 00:00 does not exist, the day starts at the jump (01:00).
        pytest.param("America/Santiago", date(2026, 9, 6), _utc(2026, 9, 6, 4), 23, id="santiago-no-midnight"),
        pytest.param("America/Santiago", date(2026, 4, 4), _utc(2026, 4, 4, 3), 25, id="santiago-midnight-twice"),
    ],
)
def test_calendar_day_starts_and_lengths(zone: str, day: date, start: float, length_h: int) -> None:
    """start_of gives the instant a local day begins; midnight_after from there gives the next day's start."""
    tz = ZoneInfo(zone)
    assert start_of(day, tz) == start
    assert midnight_after(start, tz) - start == length_h * HOUR
    assert local_time(start, tz).to_midnight_s == length_h * HOUR
    assert local_time(start, tz).date == day


@pytest.mark.parametrize(
    ("now", "zone", "after"),
    [
        pytest.param(_utc(2026, 12, 1), "UTC", _utc(2026, 12, 2), id="at-midnight-is-the-next-one"),
        pytest.param(_utc(2026, 12, 1, 23, 59, 59), "UTC", _utc(2026, 12, 2), id="one-second-before"),
        pytest.param(_utc(2026, 12, 1, 14, 59), "Asia/Seoul", _utc(2026, 12, 1, 15), id="seoul"),
        pytest.param(_utc(2026, 12, 1, 15), "Asia/Seoul", _utc(2026, 12, 2, 15), id="seoul-at-midnight"),
        pytest.param(_utc(2026, 3, 8, 6, 30), "America/New_York", _utc(2026, 3, 9, 4), id="across-spring-forward"),
        pytest.param(_utc(2026, 11, 1, 5, 30), "America/New_York", _utc(2026, 11, 2, 5), id="in-repeated-hour"),
    ],
)
def test_calendar_midnight_after_is_strictly_later(now: float, zone: str, after: float) -> None:
    """midnight_after is the first local midnight strictly after `now`, in the zone's offset on that day."""
    assert midnight_after(now, ZoneInfo(zone)) == after


@pytest.mark.parametrize(
    ("now", "day", "to_turn"),
    [
        pytest.param(_utc(2026, 12, 1, 15, 59, 59), "2026-12-01", 1.0, id="one-second-before-china-midnight"),
        pytest.param(_utc(2026, 12, 1, 16), "2026-12-02", 24 * HOUR, id="at-china-midnight"),
        pytest.param(_utc(2026, 12, 1, 1), "2026-12-01", 15 * HOUR, id="china-morning"),
        # Whatever DST does elsewhere, China's day is always 24 h.
        pytest.param(_utc(2026, 3, 8, 7), "2026-03-08", 9 * HOUR, id="us-spring-forward-day"),
        pytest.param(_utc(2026, 12, 31, 20), "2027-01-01", 20 * HOUR, id="new-year-already-in-china"),
    ],
)
def test_calendar_tencent_day_is_china_time(now: float, day: str, to_turn: float) -> None:
    """Tencent's quota day is the date in China (UTC+8, no DST) and turns at China's midnight."""
    assert tencent_day(now) == (day, to_turn)


def test_calendar_tencent_zone_is_utc_plus_eight() -> None:
    """The one China time zone is eight hours ahead of UTC, in winter and summer."""
    for now in (_utc(2026, 1, 15), _utc(2026, 7, 15)):
        assert datetime.fromtimestamp(now, tz=TENCENT_ZONE).utcoffset().total_seconds() == 8 * HOUR  # type: ignore[union-attr]


OFFICE = (time(9), time(18))
NIGHT = (time(22), time(6))


@pytest.mark.parametrize(
    ("now", "zone", "window", "expected"),
    [
        pytest.param(
            _utc(2026, 12, 1, 23), "UTC", None, LocalTime(date(2026, 12, 1), 23, HOUR, True, HOUR), id="no-window"
        ),
        pytest.param(
            _utc(2026, 12, 1, 8), "UTC", OFFICE, LocalTime(date(2026, 12, 1), 8, 16 * HOUR, False, HOUR),
            id="before-opening",
        ),
        pytest.param(
            _utc(2026, 12, 1, 9), "UTC", OFFICE, LocalTime(date(2026, 12, 1), 9, 15 * HOUR, True, 9 * HOUR),
            id="at-opening-is-open",
        ),
        pytest.param(
            _utc(2026, 12, 1, 17, 59, 59), "UTC", OFFICE, LocalTime(date(2026, 12, 1), 17, 6 * HOUR + 1, True, 1.0),
            id="last-second-open",
        ),
        pytest.param(
            _utc(2026, 12, 1, 18), "UTC", OFFICE, LocalTime(date(2026, 12, 1), 18, 6 * HOUR, False, 15 * HOUR),
            id="at-closing-is-closed-until-tomorrow",
        ),
        pytest.param(
            _utc(2026, 12, 1, 23), "UTC", NIGHT, LocalTime(date(2026, 12, 1), 23, HOUR, True, 7 * HOUR),
            id="overnight-open-before-midnight",
        ),
        pytest.param(
            _utc(2026, 12, 1, 5), "UTC", NIGHT, LocalTime(date(2026, 12, 1), 5, 19 * HOUR, True, HOUR),
            id="overnight-open-after-midnight",
        ),
        pytest.param(
            _utc(2026, 12, 1, 12), "UTC", NIGHT, LocalTime(date(2026, 12, 1), 12, 12 * HOUR, False, 10 * HOUR),
            id="overnight-closed-at-noon",
        ),
        pytest.param(
            _utc(2026, 12, 1, 0), "Asia/Seoul", OFFICE, LocalTime(date(2026, 12, 1), 9, 15 * HOUR, True, 9 * HOUR),
            id="window-in-local-time",
        ),
        # 20:00 EST on 7 March; 09:00 EDT the next day is only 12 h later.
        pytest.param(
            _utc(2026, 3, 8, 1), "America/New_York", OFFICE,
            LocalTime(date(2026, 3, 7), 20, 4 * HOUR, False, 12 * HOUR),
            id="opening-across-spring-forward",
        ),
        # 20:00 EDT on 31 October; 09:00 EST the next day is 14 h later.
        pytest.param(
            _utc(2026, 11, 1, 0), "America/New_York", OFFICE,
            LocalTime(date(2026, 10, 31), 20, 4 * HOUR, False, 14 * HOUR),
            id="opening-across-fall-back",
        ),
    ],
)  # fmt: skip
def test_calendar_local_time_and_window(
    now: float, zone: str, window: tuple[time, time] | None, expected: LocalTime
) -> None:
    """local_time gives the local date and hour, the time to midnight, and whether and until when the window is open."""
    assert local_time(now, ZoneInfo(zone), window) == expected


@pytest.mark.parametrize("window", [("01:45", "06:00"), ("02:30", "06:00"), ("22:00", "02:30"), ("09:00", "18:00")])
@pytest.mark.parametrize(
    "day", [date(2026, 3, 8), date(2026, 11, 1), date(2026, 12, 1)], ids=["spring", "autumn", "plain"]
)
def test_window_change_is_the_next_instant_the_window_opens_or_closes_around_a_clock_change(
    window: tuple[str, str], day: date
) -> None:
    """New York, every 10 minutes of the days its clocks jump forward and back (and a plain day): a closed
    window's `window_change_s` is the first instant it is open, none earlier (spring: 02:30 opens when the
    clocks jump to 03:00; autumn: 01:45 at 01:10 the second time is the 01:45 to come, 35 minutes on, not
    the one past); an open window's is an instant it is closed, the second before still open."""
    zone = ZoneInfo("America/New_York")
    win = (time.fromisoformat(window[0]), time.fromisoformat(window[1]))
    start = datetime.combine(day, time(0), tzinfo=zone).timestamp()
    for now in range(int(start), int(start) + 26 * 3600, 600):
        lt = local_time(now, zone, win)
        change = now + lt.window_change_s
        assert lt.window_change_s > 0
        assert local_time(change, zone, win).window_open is not lt.window_open
        assert local_time(change - 1, zone, win).window_open is lt.window_open
        if not lt.window_open:
            assert not any(local_time(t, zone, win).window_open for t in range(now, int(change), 300))
