"""Whether Redis still holds what it held: a marker written once, watched by the pacer.

`wo:instance` is written (if absent) by a `submit` that created a campaign and by every pacer at
start, and never removed. A Redis that restarts without its data (no append-only file, or a
FLUSHALL) loses it with everything else: the running pacer, which saw it, notices it gone at its
next sweep, logs `redis_data_lost` and leaves `wo:data_lost` behind, so that `submit` refuses to
load a campaign into that Redis until the operator says they took the already mailed recipients out
(`submit --after-data-loss`): submitting the lost campaign again would mail every one of its
recipients again. A loss while no pacer runs leaves nothing in Redis to compare with: `submit` also
remembers the marker in its host's state folder (state_folder.py), which sees it from that host; an
append-only file is what prevents it (store/server_check.py warns of a Redis without one).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from orchestrator.core.clock import utc_text
from orchestrator.store import keys


@dataclass(frozen=True, slots=True)
class Loss:
    """When a pacer saw Redis's data gone, and the marker it had seen before."""

    at: float
    instance: str

    @property
    def when(self) -> str:
        """When, for people: UTC to the second ("an unknown time" for an unreadable note)."""
        if not self.at:
            return "an unknown time"
        return utc_text(self.at)


async def mark(redis: Redis, now: float) -> str:
    """The marker's id, written first if Redis has none."""
    fresh = json.dumps({"id": secrets.token_hex(8), "since": now})
    await redis.set(keys.INSTANCE, fresh, nx=True)
    return _id(await redis.get(keys.INSTANCE))


async def current(redis: Redis) -> str:
    """The marker's id ("" when Redis has none), without writing one."""
    return _id(await redis.get(keys.INSTANCE))


def _id(raw: str | None) -> str:
    if raw is None:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw  # hand-written: compared as it is
    return str(data.get("id", raw)) if isinstance(data, dict) else raw


async def loss(redis: Redis) -> Loss | None:
    """The loss a pacer noted, if any (and not acknowledged since)."""
    raw = await redis.get(keys.DATA_LOST)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Loss(float(data["at"]), str(data["instance"]))
    except (ValueError, KeyError, TypeError):
        return Loss(0.0, "")  # unreadable: a loss all the same


async def forget_loss(redis: Redis) -> None:
    """The operator took the mailed recipients out: submitting is allowed again."""
    await redis.delete(keys.DATA_LOST)


class InstanceWatch:
    """A pacer's view of the marker: the id it saw; `check` says whether Redis lost its data since."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.seen = ""

    async def start(self, now: float) -> None:
        self.seen = await mark(self.redis, now)

    async def check(self, now: float) -> Loss | None:
        """None while the marker stands; else the loss, noted in Redis once, and a fresh marker watched."""
        current = _id(await self.redis.get(keys.INSTANCE))
        if current == self.seen:
            return None
        lost = Loss(now, self.seen)
        noted = await loss(self.redis)
        if noted is None or noted.instance != self.seen:  # another pacer may have noted this one loss
            await self.redis.set(keys.DATA_LOST, json.dumps({"at": now, "instance": self.seen}))
        self.seen = await mark(self.redis, now)
        return lost
