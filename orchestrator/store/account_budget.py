"""The per-account API budget in Redis: every call to Tencent waits for its slot, across all hosts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import Clock
from orchestrator.store import keys
from orchestrator.store.scripts import Scripts, as_str_list

#: How many seconds of writes a Redis restart may lose (AOF with `appendfsync everysec`, as
#: docs/operations.md asks: at most about two).
RESTART_LOSS_S = 2.0


class RedisAccountBudget:
    """Reserves a call slot in Redis (one atomic script), then sleeps until it comes.

    Every process that calls Tencent on an account (workers on any host, the pacer's status
    lookups and quota reads, `check`) draws from the same two timelines, so the account's rate
    holds at the moment each request leaves, whatever the number of processes.
    """

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        rate: AccountRate,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.rate = rate
        self._sleep = sleep
        self._script = Scripts(redis).account

    async def reserve(self, account: str, kind: CallKind) -> float | None:
        """Reserve the next slot: seconds to wait for it, or None when it is more than max_wait_s away."""
        reply = as_str_list(
            await self._script(
                keys=[keys.account_budget(account), keys.account_boot(account)],
                args=[
                    repr(self.clock.now()),
                    kind.value,
                    repr(self.rate.gap_s(kind)),
                    repr(self.rate.max_wait_s),
                    repr(RESTART_LOSS_S),
                ],
            )
        )
        wait = max(0.0, float(reply[1]))
        return wait if reply[0] == "ok" else None

    async def acquire(self, account: str, kind: CallKind) -> bool:
        """Wait for a slot of `kind` on `account`; False (at once) when none is free within max_wait_s."""
        wait = await self.reserve(account, kind)
        if wait is None:
            return False
        if wait > 0:
            await self._sleep(wait)
        return True
