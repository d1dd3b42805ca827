"""Whether a Redis keeps what the orchestrator writes: its eviction policy and its append-only file.

The ledger, the suppression lists and the warm-up state have no TTL and no other copy: a Redis that
evicts keys (any `maxmemory-policy` but `noeviction`; a `volatile-*` one evicts arq's queued jobs
and the leader lock, which carry TTLs) can forget a claim or a suppression, and a recipient is then
mailed twice or against their wish. So `submit`, `pacer`, `worker` and `up` refuse such a Redis.
One without an append-only file (`appendonly no`) loses its writes since the last snapshot, or all
of them, when it restarts: that is a warning, since the operator may accept it (docs/operations.md,
"Redis"). A Redis whose INFO is refused (a managed one that renames it) is taken as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.redis_url import safe_url
from orchestrator.store.connection import probe_client

NOEVICTION: Final = "noeviction"


@dataclass(frozen=True, slots=True)
class Keeping:
    """What a Redis says of itself: its eviction policy and whether its append-only file is on (None: unknown)."""

    policy: str | None
    aof: bool | None

    def refusal(self, url: str) -> str | None:
        """One line on why the orchestrator must not write to this Redis, or None."""
        if self.policy is None or self.policy == NOEVICTION:
            return None
        return (
            f"Redis at {safe_url(url)} evicts keys when full (maxmemory-policy {self.policy}): it could forget "
            "a claim or a suppression and mail a recipient twice; set `maxmemory-policy noeviction` "
            "(CONFIG SET maxmemory-policy noeviction, and in its redis.conf)"
        )

    def warning(self, url: str) -> str | None:
        """One line on what a restart of this Redis could cost, or None."""
        if self.aof is not False:
            return None
        return (
            f"Redis at {safe_url(url)} keeps no append-only file (appendonly no): a restart loses its writes "
            "since the last snapshot, or all of them, and a recipient whose claim is lost can be mailed twice; "
            "set `appendonly yes` (docs/operations.md, Redis)"
        )


async def keeping(redis: Redis) -> Keeping:
    """The eviction policy and the append-only file of the Redis `redis` talks to (INFO memory, persistence)."""
    try:
        memory = await redis.info("memory")
        persistence = await redis.info("persistence")
    except ResponseError:  # INFO refused or renamed: nothing to judge by
        return Keeping(None, None)
    policy = memory.get("maxmemory_policy")
    aof = persistence.get("aof_enabled")
    return Keeping(str(policy) if policy is not None else None, bool(int(aof)) if aof is not None else None)


async def keeping_at(url: str) -> Keeping:
    """`keeping` of the Redis at `url`, on a client of its own (no retries: the caller probed it first)."""
    client = probe_client(url)
    try:
        return await keeping(client)
    finally:
        await client.aclose()
