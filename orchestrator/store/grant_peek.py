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
#: Queue entries whose domain groups are read ahead, whenever a candidate's group must be read: a
#: grant takes a few from the head at a time, so the next calls find their groups known.
LOOKAHEAD = 256


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


class GroupCache:
    """Recipients' domain groups already read: a record never changes once submitted."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.groups: dict[tuple[str, int], str] = {}

    def put(self, cid: str, idx: int, group: str) -> None:
        if len(self.groups) >= self.size:
            self.groups.clear()  # simpler than an LRU, and refilled within a few calls
        self.groups[(cid, idx)] = group


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
    cache: GroupCache,
) -> Peek:
    """Up to `window` recipients per source the script may pick at `now`, with their keys declared."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lrange(ck.queue, 0, (max(window, LOOKAHEAD) if share_on else window) - 1)
        pipe.zrangebyscore(ck.later, "-inf", now, start=0, num=window)
        pipe.zrangebyscore(ck.held, "-inf", now, start=0, num=HELD_GROUPS)
        pipe.zrange(ck.held, 0, 0)
        pipe.incrby(keys.GRANT_SEQ, 2 * window)  # one seq per candidate of the queue and of `later`
        ahead, due, due_groups, first_group, last = await pipe.execute()
    queued = ahead[:window]
    seqs = list(range(int(last) - 2 * window + 1, int(last) + 1))
    # The first held group is taken only once the queue is empty: needed when the queue may run out.
    held_groups = sorted({str(g) for g in due_groups + (first_group if len(queued) < window else [])})
    idxs = list(dict.fromkeys(int(i) for i in queued + due))
    unknown = [i for i in idxs if (ck.cid, i) not in cache.groups] if share_on else []
    if held_groups or unknown:
        if unknown:  # read the groups of the queue ahead too
            unknown += [i for i in dict.fromkeys(int(i) for i in ahead[window:]) if (ck.cid, i) not in cache.groups]
        held_lists, last_held = await _read(redis, ck, held_groups, unknown, window, cache)
        seqs += range(last_held - window * len(held_groups) + 1, last_held + 1)
        idxs = list(dict.fromkeys(idxs + [int(i) for lst in held_lists for i in lst]))
    groups = groups | set(held_groups)
    if share_on:
        groups |= {cache.groups[(ck.cid, i)] for i in idxs if (ck.cid, i) in cache.groups}
    return _declare(ck, identity, job, idxs, groups, seqs, first_key)


async def _read(
    redis: Redis, ck: keys.CampaignKeys, held_groups: list[str], unknown: list[int], window: int, cache: GroupCache
) -> tuple[list[list[str]], int]:
    """The held lists' heads and the last seq reserved for them; the unknown groups go to `cache`."""
    buckets = sorted({i // keys.BUCKET for i in unknown})
    async with redis.pipeline(transaction=False) as pipe:
        for g in held_groups:
            pipe.lrange(ck.held_list(g), 0, window - 1)
        for b in buckets:
            pipe.hmget(f"{ck.rec_prefix}{b}", [str(i) for i in unknown if i // keys.BUCKET == b])
        pipe.incrby(keys.GRANT_SEQ, window * len(held_groups))
        *replies, last = await pipe.execute()
    n = len(held_groups)
    records = replies[n : n + len(buckets)]
    if len(cache.groups) + len(unknown) > cache.size:
        cache.groups.clear()  # before the batch, not in its middle: every group read here is kept
    for b, bucket in zip(buckets, records, strict=True):
        for i, rec in zip([i for i in unknown if i // keys.BUCKET == b], bucket, strict=True):
            if rec is not None:
                cache.put(ck.cid, i, script_group(str(rec)))
    return [[str(i) for i in r] for r in replies[:n]], int(last)


def _declare(
    ck: keys.CampaignKeys,
    identity: str,
    job: tuple[str, Callable[[str, int, str], str]],
    idxs: list[int],
    groups: set[str],
    seqs: list[int],
    first_key: int,
) -> Peek:
    """Give each candidate its reserved grant seq and name every key the script may touch for them."""
    p = Peek(first_key)
    index: dict[str, int] = {}
    job_key_prefix, job_id = job
    for idx, n in zip(idxs, seqs, strict=False):
        seq = str(n)
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
