"""Dates and time zones as a campaign file writes them."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator

from orchestrator.core.addresses import shown

_NUMBER: Final = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
#: The latest date a file may name (a later one is a typo; the calendar's arithmetic ends at year 9999).
LAST_DATE: Final = date(2999, 12, 31)
#: Names the time zone database knows that are not a place's time: the host's own clock, a placeholder.
NOT_A_ZONE: Final = frozenset({"localtime", "Factory", "posixrules"})


def _written(v: object) -> object:
    """A date is written YYYY-MM-DD: a number, or a text of one (read as seconds since 1970 otherwise), is
    refused."""
    if (isinstance(v, int | float) and not isinstance(v, bool)) or (isinstance(v, str) and _NUMBER.fullmatch(v)):
        msg = f"write the date as YYYY-MM-DD, not the number {shown(v)}"
        raise ValueError(msg)
    return v


def _not_too_late(d: date) -> date:
    if d > LAST_DATE:
        msg = f"{d} is after {LAST_DATE}, the latest date a campaign file may name"
        raise ValueError(msg)
    return d


#: A date of a campaign file (`start`, `simulation.start`).
FileDate = Annotated[date, BeforeValidator(_written), AfterValidator(_not_too_late)]


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_zone(name: str, known_only: bool = True) -> str:
    """`name` when it is an IANA time zone of a place (Asia/Seoul, UTC); ValueError otherwise. Without
    `known_only` (a campaign an older release stored), any name the time zone database loads."""
    try:
        ZoneInfo(name)
        if known_only and (name in NOT_A_ZONE or name not in _zone_names()):
            raise ValueError(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        msg = f"unknown time zone {shown(name)} (use an IANA name such as Asia/Seoul or UTC)"
        raise ValueError(msg) from None
    return name
