"""A full Redis (used memory above `maxmemory`, `noeviction`) refuses every write: the worker and the pacer
wait for memory instead of ending, and say so once a minute rather than at every poll."""

from __future__ import annotations

from typing import Any

#: How often a process repeats that Redis is still full.
NOTE_EVERY_S = 60.0


class FullRedisNote:
    """Logs `redis_full` for `who` at the first refusal, then at most once every NOTE_EVERY_S."""

    def __init__(self, log: Any, who: str) -> None:
        self._log = log
        self._who = who
        self._last: float | None = None

    def seen(self, now: float) -> None:
        if self._last is not None and now - self._last < NOTE_EVERY_S:
            return
        self._last = now
        self._log.error(
            "redis_full",
            process=self._who,
            detail="Redis refuses writes: its used memory is above maxmemory; nothing is granted or sent "
            "until memory is freed or maxmemory raised (docs/operations.md, Redis)",
        )
