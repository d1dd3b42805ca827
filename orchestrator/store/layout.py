"""Bringing a Redis written by an older release to the current key layout, once, when the pacer starts.

Before every key of the grant script was declared in KEYS, a campaign's blocked domain groups were
one string each (`wo:c:<cid>:block:<group>`) and an identity's domain shares one hash each
(`wo:id:<identity>:dom:<group>`, field `tat`). They are folded into one sorted set each
(`CampaignKeys.blocks`, `IdentityKeys.domains`), keeping the later time when both exist.
Held lists, the queue and the ledger kept their layout.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.store import keys

_BLOCK = ":block:"
_DOMAIN = ":dom:"


async def upgrade(redis: Redis) -> int:
    """Fold the older per-group block and domain-share keys into the current ones; how many were folded."""
    folded = 0
    async for raw in redis.scan_iter(match=f"{keys.PREFIX}c:*{_BLOCK}*", count=1000):
        name = str(raw)
        cid, _, group = name.removeprefix(f"{keys.PREFIX}c:").rpartition(_BLOCK)
        folded += await _fold(redis, name, keys.CampaignKeys(cid).blocks, group, None)
    async for raw in redis.scan_iter(match=f"{keys.PREFIX}id:*{_DOMAIN}*", count=1000):
        name = str(raw)
        identity, _, group = name.removeprefix(f"{keys.PREFIX}id:").rpartition(_DOMAIN)
        folded += await _fold(redis, name, keys.IdentityKeys(identity).domains, group, "tat")
    return folded


async def _fold(redis: Redis, old: str, new: str, group: str, field: str | None) -> int:
    """Move one older key's time into `new` as `group`'s score (kept if already later); drop the old key."""
    try:
        raw = await (redis.hget(old, field) if field else redis.get(old))
        at = float(raw) if raw is not None else None
    except (ResponseError, ValueError):  # not a key of the older layout: left alone
        return 0
    if at is not None:
        await redis.zadd(new, {group: at}, gt=True)
        if field:  # a domain share lives as long as the grant script keeps it (2 h after its last write)
            await redis.expire(new, 7200)
    await redis.delete(old)
    return 1
