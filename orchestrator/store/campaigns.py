"""Campaign records in Redis: the stored spec, the state machine, submit counts, progress counters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.store import events, keys
from orchestrator.store.ledger import STATES


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.COMPLETED, State.CANCELLED})


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    cid: str
    name: str
    state: State
    reason: str
    paused_by: str
    created_at: float
    spec: Campaign
    seed: int
    submit: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def identities(self) -> list[str]:
        return [i.id for i in self.spec.identities]


_SPEC_CACHE: dict[str, Campaign] = {}


def spec_of(cid: str, raw_spec: str) -> Campaign:
    """A campaign's stored spec, parsed once per process (it never changes after submit)."""
    spec = _SPEC_CACHE.get(cid)
    if spec is None:
        spec = Campaign.model_validate_json(raw_spec)
        _SPEC_CACHE[cid] = spec
    return spec


def cached_spec(cid: str) -> Campaign | None:
    return _SPEC_CACHE.get(cid)


_META_FIELDS = ("name", "state", "reason", "paused_by", "created_at", "seed", "submit", "fingerprint", "source")


async def get(redis: Redis, cid: str) -> CampaignRecord | None:
    """A campaign's record; the stored spec is transferred and parsed once per process."""
    ck = keys.CampaignKeys(cid)
    cached = _SPEC_CACHE.get(cid)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(ck.meta, [*_META_FIELDS, "spec"] if cached is None else list(_META_FIELDS))
        pipe.hgetall(ck.counts)
        values, counts = await pipe.execute()
    meta = {k: v for k, v in zip([*_META_FIELDS, "spec"], values, strict=False) if v is not None}
    if not meta.get("state"):
        return None
    if cached is None and "spec" not in meta:
        return None
    return CampaignRecord(
        cid=cid,
        name=meta.get("name", cid),
        state=State(meta.get("state", "running")),
        reason=meta.get("reason", ""),
        paused_by=meta.get("paused_by", ""),
        created_at=float(meta.get("created_at", "0")),
        spec=cached if cached is not None else spec_of(cid, meta["spec"]),
        seed=int(meta.get("seed", "0")),
        submit=json.loads(meta.get("submit", "{}")),
        counts={s: int(counts.get(s, 0)) for s in STATES},
        raw=meta,
    )


async def all_ids(redis: Redis) -> list[str]:
    return [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]


async def running_ids(redis: Redis) -> list[str]:
    ids = await all_ids(redis)
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.hget(keys.campaign(cid), "state")
        states = await pipe.execute()
    return [cid for cid, st in zip(ids, states, strict=True) if st == State.RUNNING]


async def resolve(redis: Redis, ref: str) -> str | None:
    """A campaign id from an id or a unique name (the newest campaign of that name)."""
    if await redis.exists(keys.campaign(ref)):
        return ref
    matches = []
    for cid in reversed(await all_ids(redis)):
        if await redis.hget(keys.campaign(cid), "name") == ref:
            matches.append(cid)
    return matches[0] if matches else None


_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {'missing', ''} end
local allowed = false
for i = 5, #ARGV do if ARGV[i] == cur then allowed = true end end
if cur == ARGV[1] then return {'same', cur} end
if not allowed then return {'refused', cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'reason', ARGV[2], 'paused_by', ARGV[3],
           'changed_at', ARGV[4])
return {'ok', cur}
"""


async def transition(
    redis: Redis,
    cid: str,
    to: State,
    allowed_from: set[State],
    now: float,
    reason: str = "",
    by: str = "",
) -> tuple[str, str]:
    """Move a campaign to `to` if it is in one of `allowed_from`: ('ok'|'same'|'refused'|'missing', was)."""
    reply = await redis.eval(
        _TRANSITION, 1, keys.campaign(cid), to.value, reason, by, repr(now), *[s.value for s in allowed_from]
    )
    outcome, was = (str(x) for x in reply)
    if outcome == "ok":
        etype = "campaign_resumed" if to is State.RUNNING else f"campaign_{to.value}"
        await events.emit(redis, now, etype, cid, reason=reason or None, by=by or None, was=was)
    return outcome, was
