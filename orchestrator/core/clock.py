"""The injected clock: the system clock in production, a virtual clock in tests and `simulate`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """The wall clock: the only place the code reads the time; everything else is handed a Clock."""

    def now(self) -> float:
        # The core takes `now` as an argument everywhere else; this one read is what production passes in.
        return time.time()  # noqa: TID251 - the one sanctioned wall-clock read


class VirtualClock:
    """A clock that moves only when told to: a month of warm-up runs in seconds."""

    def __init__(self, start: float) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        if t < self._t:
            msg = "a virtual clock never goes backwards"
            raise ValueError(msg)
        self._t = t

    def advance(self, seconds: float) -> None:
        self.set(self._t + seconds)


def utc_text(at: float, *, seconds: bool = True) -> str:
    """A moment for people, in UTC: "2026-12-06 22:24:52 UTC", or to the minute; "?" where no date
    can hold it (a damaged stored time never stops a command)."""
    try:
        moment = datetime.fromtimestamp(at, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return "?"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
