"""Driving the real pipeline on a virtual clock: pacer ticks, arq workers in burst, jumps in time.

Used by `orchestrate simulate` and the integration tests: the same pacer, limiter, Lua scripts,
arq jobs and ledger as production, only the clock is virtual and the workers run in this process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from arq.connections import ArqRedis, create_pool

from orchestrator.core.clock import VirtualClock
from orchestrator.core.sending import Sender
from orchestrator.pacing import PacerConfig, TickReport
from orchestrator.settings import Settings
from orchestrator.store import campaigns, keys
from orchestrator.store.campaigns import State
from orchestrator.store.connection import arq_settings, make_restart_tolerant, redis_from_url
from orchestrator.store.ledger import Ledger
from workers.deps import Deps
from workers.pacer import build_pacer
from workers.settings import build_worker
from workers.sweep import Sweeper
from workers.worker import ResilientWorker

#: The smallest step the virtual clock takes when the limiter says "now" but grants nothing.
MIN_STEP_S = 0.001
#: The send job's timeout (real time) when the caller names none: the settings' default.
JOB_TIMEOUT_S: int = Settings.model_fields["job_timeout_s"].default


class BurstWorker(ResilientWorker):
    """arq's Worker, drained again and again: `main()` in burst mode without its per-call INFO and startup."""

    async def drain(self) -> None:
        # The loop of Worker.main in burst mode (arq 0.28), minus log_redis_info and on_startup,
        # which would otherwise run once per virtual instant, and with one change: the jobs a poll
        # started run to their end before the next poll. arq's loop polls again at once while they
        # run (a job leaves the queue when it finishes), and with no poll delay those polls took
        # the event loop from the sends in flight.
        self.ctx["redis"] = self.pool
        while True:
            await self._poll_iteration()
            await asyncio.gather(*self.tasks.values())
            if await self.pool.zcard(self.queue_name) == 0:
                return


class CallbackFeed(Protocol):
    """Tencent's events as the emulator schedules them: when the next one is due, and posting what is due."""

    def next_callback_at(self) -> float | None: ...

    async def post_due_callbacks(self) -> None: ...


@dataclass
class DriveStats:
    ticks: int = 0
    granted: int = 0
    sweeps: int = 0


class VirtualRun:
    """A pipeline whose clock only moves when nothing more can happen at the current instant."""

    def __init__(
        self,
        redis_url: str,
        clock: VirtualClock,
        sender: Sender,
        config: PacerConfig | None = None,
        workers: int = 1,
        max_jobs: int = 100,
        seed: int = 0,
        job_timeout_s: int = JOB_TIMEOUT_S,
    ) -> None:
        self.redis_url = redis_url
        self.clock = clock
        self.sender = sender
        self.redis = redis_from_url(redis_url)
        self.pacer = build_pacer(self.redis, clock, config or PacerConfig(), sender=sender)
        self.sweeper = Sweeper(self.pacer)
        self.job_timeout_s = job_timeout_s
        self.n_workers = workers
        self.max_jobs = max_jobs
        self.rnd = random.Random(seed)
        self.stats = DriveStats()
        self._pools: list[ArqRedis] = []
        self._workers: list[BurstWorker] = []
        self._deps: list[Deps] = []
        self._last_sweep = clock.now()
        #: Asked when nothing waits: True keeps the run going (an operator will act at a later instant).
        self.awaited: Callable[[], Awaitable[bool]] | None = None
        #: The emulator's events: the clock stops at each one's time on its way to the next grant.
        self.callbacks: CallbackFeed | None = None

    async def __aenter__(self) -> VirtualRun:
        for _ in range(self.n_workers):
            pool = await create_pool(arq_settings(self.redis_url))
            await make_restart_tolerant(pool)  # the drain's own reads ride out a Redis restart too
            self._pools.append(pool)
            deps = Deps(
                redis=self.redis,
                ledger=Ledger(self.redis),
                sender=self.sender,
                clock=self.clock,
                rnd=random.Random(self.rnd.random()),
                owns_sender=False,
            )
            self._deps.append(deps)
            self._workers.append(
                build_worker(
                    BurstWorker,
                    self.job_timeout_s,
                    self.max_jobs,
                    self.redis_url,
                    redis_pool=pool,
                    burst=True,
                    poll_delay=0,
                    handle_signals=False,
                    ctx={"deps": deps},
                )
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self._workers:
            await w.close()
        await self.redis.aclose()

    async def drain(self) -> None:
        """Run every queued job to completion with all workers side by side."""
        await asyncio.gather(*(w.drain() for w in self._workers))

    async def step(self) -> TickReport:
        """One instant: grant, run the granted jobs, and say when the next grant could happen."""
        report = await self.pacer.tick()
        self.stats.ticks += 1
        self.stats.granted += report.granted
        if report.granted:
            refunds = sum(d.refunds for d in self._deps)
            await self.drain()
            if sum(d.refunds for d in self._deps) != refunds:
                report.wait_for(0.0)  # budget came back: grant again at this instant
        return report

    async def run_until(
        self,
        end: float,
        sweep_every_s: float = 60.0,
        on_step: Callable[[TickReport], Awaitable[None]] | None = None,
        idle_stop: bool = True,
    ) -> None:
        """Advance to `end`, jumping the clock to the next instant a grant can succeed.

        With `idle_stop`, return early once nothing waits anywhere (every campaign finished).
        """
        while self.clock.now() < end:
            report = await self.step()
            if on_step is not None:
                await on_step(report)
            now = self.clock.now()
            if now - self._last_sweep >= sweep_every_s:
                await self.sweeper.sweep()
                self.stats.sweeps += 1
                self._last_sweep = now
            if report.wait_s == 0:
                continue  # more may be granted at this same instant
            if report.wait_s < 0:
                if idle_stop and not await self._anything_pending() and not await self._awaited():
                    return
                await self._jump(min(end, now + sweep_every_s))
                continue
            await self._jump(min(end, now + max(report.wait_s, MIN_STEP_S)))

    async def _jump(self, to: float) -> None:
        """Move the clock to `to`, stopping at each callback due on the way so it is posted (and stamped by
        the web process) at its own time, as it would be live, not at the instant the clock lands on."""
        feed = self.callbacks
        if feed is not None:
            while (at := feed.next_callback_at()) is not None and at <= to:
                self.clock.set(max(at, self.clock.now()))
                await feed.post_due_callbacks()
        self.clock.set(to)

    async def _awaited(self) -> bool:
        return self.awaited is not None and await self.awaited()

    async def _anything_pending(self) -> bool:
        """True while a campaign runs (even one the next tick only marks completed) or a doubt awaits its lookup."""
        for cid in await campaigns.all_ids(self.redis):
            rec = await campaigns.load(self.redis, cid)
            if not isinstance(rec, campaigns.CampaignRecord):
                continue  # gone, or unreadable: the pacer skips it too
            if rec.state is State.RUNNING:
                # The sweep may just have settled the last send: only a tick completes the campaign.
                return True
            if rec.counts["in_doubt"] and await self.redis.zcard(keys.CampaignKeys(cid).doubt):
                return True
        return False
