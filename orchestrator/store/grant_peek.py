"""The recipients a grant may pick, peeked before the script runs, so every key it touches is declared.

The grant script (store/lua/grant.lua) picks due retries, then held recipients of due domain
groups, then the head of the shuffled queue. Here the limiter reads those heads with plain read
commands and reserves a grant seq for each candidate: the script is handed their state and record
buckets, their arq job keys and the held lists of their domain groups. What changes between the
peek and the script (a retry falling due, a requeue) is caught there: the script stops at a
recipient it was not given and says `more`, and the limiter peeks again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from orchestrator.core.domains import PROVIDER_GROUPS
from orchestrator.store import keys

#: Due domain groups whose held lists one call reads.
HELD_GROUPS = 16


@dataclass(slots=True)
class Peek:
    """The candidates' KEYS (after the script's fixed ones) and the JSON map the script reads them by."""

    first: int  # the position in KEYS of `keys[0]`
    keys: list[str] = field(default_factory=list)
    candidates: dict[str, list[int | str]] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)

    def key(self, name: str, index: dict[str, int]) -> int:
        if name not in index:
            index[name] = self.first + len(self.keys)
            self.keys.append(name)
        return index[name]

    @property
    def declared(self) -> str:
        return json.dumps({"c": self.candidates, "h": self.held}, separators=(",", ":"))


def script_group(record: str) -> str:
    """A record's domain group exactly as grant.lua reads it: after the first '@', ASCII lower case."""
    end = min((i for i in (record.find("\x1e"), record.find("\x1f")) if i >= 0), default=len(record))
    address = record[:end]
    domain = address.partition("@")[2].encode().lower().decode()
    if domain.startswith("yahoo."):
        return "yahoo"
    return PROVIDER_GROUPS.get(domain, domain)


async def peek(
    redis: Redis,
    ck: keys.CampaignKeys,
    identity: str,
    job: tuple[str, Callable[[str, int, str], str]],
    now: float,
    window: int,
    share_on: bool,
    groups: set[str],
    first_key: int,
) -> Peek:
    """Up to `window` recipients per source the script may pick at `now`, with their keys declared."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lrange(ck.queue, 0, window - 1)
        pipe.zrangebyscore(ck.later, "-inf", now, start=0, num=window)
        pipe.zrangebyscore(ck.held, "-inf", now, start=0, num=HELD_GROUPS)
        pipe.zrange(ck.held, 0, 0)
        queued, due, due_groups, first_group = await pipe.execute()
    held_groups = sorted({str(g) for g in due_groups + first_group})
    idxs = [int(i) for i in queued + due]
    async with redis.pipeline(transaction=False) as pipe:
        for g in held_groups:
            pipe.lrange(ck.held_list(g), 0, window - 1)
        buckets = sorted({i // keys.BUCKET for i in idxs}) if share_on else []
        for b in buckets:
            pipe.hmget(f"{ck.rec_prefix}{b}", [str(i) for i in idxs if i // keys.BUCKET == b])
        # One seq per candidate, reserved before the held lists are read: at most `window` from each.
        reserved = len(idxs) + window * len(held_groups)
        pipe.incrby(keys.GRANT_SEQ, reserved)
        *replies, last = await pipe.execute()
    held_lists, records = replies[: len(held_groups)], replies[len(held_groups) :]
    idxs += [int(i) for lst in held_lists for i in lst]
    groups = groups | set(held_groups)
    for rec in (r for bucket in records for r in bucket):
        if rec is not None:
            groups.add(script_group(str(rec)))
    return _declare(ck, identity, job, sorted(set(idxs)), groups, int(last) - reserved + 1, first_key)


def _declare(
    ck: keys.CampaignKeys,
    identity: str,
    job: tuple[str, Callable[[str, int, str], str]],
    idxs: list[int],
    groups: set[str],
    first_seq: int,
    first_key: int,
) -> Peek:
    """Give each candidate its reserved grant seq and name every key the script may touch for them."""
    p = Peek(first_key)
    index: dict[str, int] = {}
    job_key_prefix, job_id = job
    for n, idx in enumerate(idxs):
        seq = str(first_seq + n)
        jid = job_id(ck.cid, idx, f"{identity}:{seq}")
        p.candidates[str(idx)] = [
            p.key(ck.state(idx), index),
            p.key(ck.rec(idx), index),
            p.key(job_key_prefix + jid, index),
            seq,
            jid,
        ]
    for g in sorted(groups):
        p.held[g] = p.key(ck.held_list(g), index)
    return p
