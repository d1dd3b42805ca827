"""Where a send in doubt is found in GetSendEmailStatus: its window of RequestTime, the days it is filed under."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from orchestrator.core.addresses import parse_from_address
from orchestrator.core.calendar import TENCENT_ZONE
from orchestrator.core.sending import StatusQuery


def lookup_window(query: StatusQuery, timeout_s: float, slack_s: float) -> tuple[float, float]:
    """The RequestTime a row of this send may carry: from `not_before` to `not_after` (or `not_before`)
    plus the call's timeout, widened by the clock skew allowed on both sides (Tencent stamps its own)."""
    last = query.not_after or query.not_before
    return utc(query.not_before).timestamp() - slack_s, utc(last).timestamp() + timeout_s + slack_s


def own_window(query: StatusQuery, timeout_s: float) -> tuple[float, float]:
    """The RequestTime only this send could carry if clocks agreed: from `not_before` (its grant) to
    `not_after` (or `not_before`) plus the call's timeout, with no skew allowed."""
    last = query.not_after or query.not_before
    # RequestTime is whole seconds: a mail sent within the second of its grant carries that second.
    return math.floor(utc(query.not_before).timestamp()), utc(last).timestamp() + timeout_s


def lookup_dates(query: StatusQuery, window: tuple[float, float]) -> list[date]:
    """The caller's date first, then every UTC and China-time day the window touches.

    Tencent dates its send records in China time; a send made long after its grant (a backlog, a
    lost job granted again) is filed under the day it left, which the window reaches.
    """
    first, last = (datetime.fromtimestamp(t, tz=UTC) for t in window)
    days = [query.request_date]
    for tz in (UTC, TENCENT_ZONE):
        day, end = first.astimezone(tz).date(), last.astimezone(tz).date()
        while day <= end:
            days.append(day)
            day += timedelta(days=1)
    return list(dict.fromkeys(days))


def parties(row: Any) -> tuple[str, str]:
    """(sender address, recipient) of a status row, lower case, as a lookup compares them."""
    to = (getattr(row, "ToEmailAddress", "") or "").strip().lower()
    return address_of(getattr(row, "FromEmailAddress", "") or ""), to


def address_of(from_value: str) -> str:
    try:
        return parse_from_address(from_value)[1].lower()
    except ValueError:
        return from_value.strip().lower()


def utc(dt: datetime) -> datetime:
    """An aware datetime; a naive one is taken as UTC (StatusQuery's convention)."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
