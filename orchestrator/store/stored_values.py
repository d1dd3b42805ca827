"""Numbers and dates stored as text in Redis, read back strictly: a corrupt one names its field, never its value."""

from __future__ import annotations

import math
from datetime import date

from redis.exceptions import ResponseError

#: The last second a datetime can show (9999-12-31T23:59:59Z): a stored time past it is corrupt.
MAX_TIME_S = 253_402_300_799.0
#: Stored counters and days above this are corrupt (far beyond any real campaign).
MAX_WHOLE = 10**15


class BadStoredValueError(ValueError):
    """A stored value that cannot be read; the message names the field, never the value."""


def whole(raw: str | None, name: str, default: int = 0, low: int = 0, high: int = MAX_WHOLE) -> int:
    """A stored whole number in [low, high]; `default` when absent or empty."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (ValueError, TypeError):
        raise BadStoredValueError(f"stored {name} is not a whole number") from None
    if not low <= value <= high:
        raise BadStoredValueError(f"stored {name} is out of range")
    return value


def moment(raw: str | None, name: str, default: float = 0.0) -> float:
    """A stored Unix time: finite, not before 1970 nor after the year 9999; `default` when absent or empty."""
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (ValueError, TypeError):
        raise BadStoredValueError(f"stored {name} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_TIME_S:
        raise BadStoredValueError(f"stored {name} is not a time")
    return value


def iso_date(raw: str | None, name: str) -> date | None:
    """A stored ISO date (YYYY-MM-DD); None when absent or empty."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except (ValueError, TypeError):
        raise BadStoredValueError(f"stored {name} is not a date") from None


def refused(reply: object) -> str | None:
    """Why Redis refused one command of a pipeline run with raise_on_error=False; None when it answered."""
    if not isinstance(reply, ResponseError):
        return None
    code = (str(reply).split() or [""])[0]
    if code == "WRONGTYPE":
        return "a stored key has the wrong type"
    # Only Redis's own error code (OOM, READONLY...): the rest of a script's error may quote stored data.
    return f"Redis refused a command ({code})" if code.isalpha() and code.isupper() else "Redis refused a command"
