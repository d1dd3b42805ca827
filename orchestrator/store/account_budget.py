"""The per-account API budget in Redis: every call to Tencent waits for its slot, across all hosts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import Clock
from orchestrator.store import keys
from orchestrator.store.scripts import Scripts, as_str_list

#: How many seconds of writes a Redis restart may lose (AOF with `appendfsync everysec`, as
#: docs/operations.md asks: at most about two).
RESTART_LOSS_S = 2.0
#: How many times a call that woke too late for its slot books a new one before it gives up (not made).
LATE_REBOOKS = 3

log = structlog.get_logger(__name__)


class RedisAccountBudget:
    """Reserves a call slot in Redis (one atomic script), then sleeps until it comes.

    Every process that calls Tencent on an account (workers on any host, the pacer's status
    lookups and quota reads, `check`) draws from the same two timelines, so the account's rate
    holds at the moment each request leaves, whatever the number of processes.
    """

    def __init__(
        self,
        redis: Redis,
        clock: Clock | None,
        rate: AccountRate,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.clock = clock  # None: Redis's own clock, the same for every host (production)
        self.rate = rate
        self._sleep = sleep
        self._monotonic = monotonic
        self._script = Scripts(redis).account

    async def reserve(self, account: str, kind: CallKind) -> tuple[bool, float]:
        """Reserve the next slot: (True, seconds to wait for it), or (False, how far away it is) past max_wait_s."""
        reply = as_str_list(
            await self._script(
                keys=[keys.account_budget(account)],
                args=[
                    "" if self.clock is None else repr(self.clock.now()),
                    kind.value,
                    repr(self.rate.gap_s(kind)),
                    repr(self.rate.gap_s(CallKind.SEND)),
                    repr(self.rate.max_wait_s),
                    repr(RESTART_LOSS_S),
                ],
            )
        )
        return reply[0] == "ok", max(0.0, float(reply[1]))

    async def acquire(self, account: str, kind: CallKind) -> float | None:
        """Wait for a slot of `kind` on `account` (None: go now), or the seconds until one could be had.

        The spacing holds only if a call leaves within `guard_s` of its slot. A process whose event
        loop was held up (a busy CPU, a blocking import) wakes its sleeping calls late, all at once;
        going then would put them on top of the calls of the slots that followed. A call that finds
        itself late books a new slot instead; lateness counts from before the booking was asked, so
        a slow answer from Redis counts too.
        """
        for _ in range(1 + LATE_REBOOKS):
            asked = self._monotonic()
            ok, wait = await self.reserve(account, kind)
            if not ok:
                return wait
            if wait > 0:
                await self._sleep(wait)
            late_s = self._monotonic() - asked - wait
            if late_s <= self.rate.guard_s:
                return None
            log.info("account_slot_missed", account=account, kind=kind.value, late_s=round(late_s, 3))
        return 0.0


class LocalAccountBudget:
    """The same spacing kept in this process alone, for a command that finds no Redis (`check`).

    Every call takes a slot of the share reserved for calls other than SendEmail, whatever its
    kind: a pipeline on a Redis this process cannot see may be sending on the same account, and
    that share is the one it leaves free.
    """

    def __init__(
        self, clock: Clock, rate: AccountRate, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.clock = clock
        self.rate = rate
        self._sleep = sleep
        self._next_free = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, account: str, kind: CallKind) -> float | None:
        """Wait for this process's next slot (never refused: a command waits its turn)."""
        async with self._lock:
            now = self.clock.now()
            slot = max(now, self._next_free)
            self._next_free = slot + self.rate.gap_s(CallKind.OTHER)
        if slot > now:
            await self._sleep(slot - now)
        return None
