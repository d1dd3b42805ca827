"""Counts of the Tencent API calls this side made, and of those Tencent throttled, per account (for /metrics)."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.store import keys

log = structlog.get_logger(__name__)

CALLS = "calls"
THROTTLES = "throttles"


class ApiCallStats:
    """Adds one call (and one throttle) to the account's stats hash; a Redis failure loses the count, nothing else."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def count(self, account: str, throttled: bool) -> None:
        key = keys.account_stats(account)
        try:
            if not throttled:
                await self.redis.hincrby(key, CALLS, 1)
                return
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, CALLS, 1)
                pipe.hincrby(key, THROTTLES, 1)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # a count is not worth failing (or doubting) a send over
            log.debug("api_stats_not_counted", error=type(exc).__name__)
