"""The injected clock: the system clock in production, a virtual clock in tests and `simulate`."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...


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
