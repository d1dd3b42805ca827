"""Deferral bursts: the per-minute counts callback.lua keeps per identity and provider group, read back.

callback.lua counts, in the minute an event arrives (`keys.fb_deferrals`), each identity and group's
deferrals and soft bounces ("<identity>|<group>|d") and all their outcomes ("...|o"). The pacer,
before each grant of an identity under per-domain shaping, reads the minutes of the campaign's
window (none before a group's last block) and backs off each group whose count is a burst
(core/domain_shaping.py), exactly as a `FailedOperation.TemporaryBlocked` answer does
(store/group_state.py).
"""

from __future__ import annotations

from collections import defaultdict

from redis.asyncio import Redis

from orchestrator.core.domain_shaping import GroupState, deferral_buckets
from orchestrator.store import keys


async def counts(
    redis: Redis, identity: str, states: dict[str, GroupState], window_s: float, now: float
) -> dict[str, tuple[int, int]]:
    """Group -> (deferrals, outcomes) of `identity` in the window before `now`, after each group's last block."""
    widest = deferral_buckets(now, window_s, None)
    pipe = redis.pipeline(transaction=False)
    for bucket in widest:
        pipe.hgetall(keys.fb_deferrals(bucket))
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    prefix = identity + "|"
    for bucket, raw in zip(widest, await pipe.execute(), strict=True):
        for field, value in raw.items():
            name = str(field)
            if not name.startswith(prefix):
                continue
            group, _, kind = name[len(prefix) :].rpartition("|")
            state = states.get(group)
            if bucket not in deferral_buckets(now, window_s, state.blocked_at if state else None):
                continue
            out[group][0 if kind == "d" else 1] += int(value)
    return {g: (d, o) for g, (d, o) in out.items()}
