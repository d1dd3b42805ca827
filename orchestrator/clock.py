"""The system clock: the only place production code reads the wall time."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> float:
        return time.time()  # noqa: TID251 - this is the one sanctioned wall-clock read
