"""The pacer process: tick while holding the leader lock, sweep now and then (real time)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from orchestrator.core.clock import Clock, SystemClock
from orchestrator.core.sending import Sender
from orchestrator.pacing import Pacer, PacerConfig
from orchestrator.settings import Settings
from orchestrator.store import keys
from orchestrator.store.connection import error_text, redis_from_url
from orchestrator.store.instance import InstanceWatch
from orchestrator.store.scripts import Scripts
from workers.blocklist import BlocklistSync
from workers.jobs import SEND_JOBS
from workers.redis_full import FullRedisNote
from workers.sweep import Sweeper

log = structlog.get_logger("workers.pacer")


def pacer_config(settings: Settings) -> PacerConfig:
    """The pacer's configuration from the process settings (`pacer`, `up`)."""
    return PacerConfig(
        # The grants keep to the pace the budget serves SendEmail at, so no backlog builds up.
        account_rate_per_s=settings.account_rate().send_slots_per_s,
        catchup_s=2 * settings.pacer_interval_s,
        reconcile_after_s=settings.reconcile_after_s,
        reconcile_retry_s=settings.reconcile_retry_s,
        reconcile_throttled_retry_s=settings.reconcile_throttled_retry_s,
        reconcile_window_s=settings.reconcile_window_s,
        followup_after_s=settings.followup_after_s,
        completed_retention_s=settings.completed_retention_days * 86400,
    )


def build_pacer(
    redis: Redis,
    clock: Clock,
    config: PacerConfig | None = None,
    sender: Sender | None = None,
    wall: Clock | None = None,
) -> Pacer:
    """A pacer whose grants enqueue this side's send jobs (`SEND_JOBS`)."""
    return Pacer(redis, clock, config, sender, wall, jobs=SEND_JOBS)


class LeaderLock:
    """Exactly one active pacer: a Redis lock with a token, renewed every tick."""

    def __init__(self, redis: Redis, scripts: Scripts, ttl_s: float = 10.0) -> None:
        self.redis = redis
        self.scripts = scripts
        self.ttl_s = ttl_s
        self.ttl_ms = int(ttl_s * 1000)
        self.token = secrets.token_hex(8)

    async def acquire_or_renew(self) -> bool:
        if await self.redis.set(keys.PACER_LOCK, self.token, nx=True, px=self.ttl_ms):
            return True
        renewed = await self.scripts.lock_renew(keys=[keys.PACER_LOCK], args=[self.token, str(self.ttl_ms)])
        return bool(renewed)

    async def release(self) -> None:
        await self.scripts.lock_release(keys=[keys.PACER_LOCK], args=[self.token])


async def run_pacer(
    pacer: Pacer,
    interval_s: float = 1.0,
    sweep_every_s: float = 10.0,
    stop: asyncio.Event | None = None,
    blocklist: BlocklistSync | None = None,
    lock_ttl_s: float = 10.0,
) -> None:
    """The pacer process's loop (real time): tick while holding the leader lock; sweep beside it.

    The sweep (lost jobs, expired leases, status lookups of doubts) runs in its own task, so a long
    reconciliation never holds back the grants nor lets the leader lock lapse.
    """
    stop = stop or asyncio.Event()
    lock = LeaderLock(pacer.redis, pacer.scripts, lock_ttl_s)
    pacer.limiter.fence = lock.token  # its grants need the lock: a lapsed leader's late grants are refused
    leading = asyncio.Event()
    watch = InstanceWatch(pacer.redis)
    await watch.start(pacer.wall.now())
    sweeping = asyncio.create_task(_sweep_while_leading(Sweeper(pacer), sweep_every_s, leading, stop, watch))
    syncing = asyncio.create_task(blocklist.run(leading, stop)) if blocklist else None
    leader = False
    last_tick_at: float | None = None  # when this pacer's last tick as leader ended (wall clock)
    full = FullRedisNote(log, "pacer")
    try:
        while not stop.is_set():
            try:
                leader, last_tick_at = await _turn(pacer, lock, leading, leader, last_tick_at)
            except OutOfMemoryError:  # nothing can be granted; the lock may lapse to a standby, as full
                full.seen(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    finally:
        stop.set()
        for task in (sweeping, syncing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(OutOfMemoryError):
            await lock.release()


async def _turn(
    pacer: Pacer, lock: LeaderLock, leading: asyncio.Event, leader: bool, last_tick_at: float | None
) -> tuple[bool, float | None]:
    """One pass of the loop: take or renew the lock, and tick while leading. Returns (leader, last tick)."""
    asked_at = pacer.wall.now()  # the lock, if renewed, lives at least lock_ttl_s from here
    is_leader = await lock.acquire_or_renew()
    if is_leader != leader:
        # On a loss, when it last acted as leader: the leaders' eras can be told apart from the logs.
        lost = {} if is_leader or last_tick_at is None else {"last_tick_at": round(last_tick_at, 3)}
        log.info("pacer_leadership", leader=is_leader, **lost)
        leader = is_leader
    if is_leader:
        leading.set()
        report = await pacer.tick()
        last_tick_at = pacer.wall.now()
        if last_tick_at - asked_at > lock.ttl_s:
            # The lock may have lapsed mid-tick; the grant script's fence refused this pacer's
            # grants from the moment a standby took the lock.
            log.warning("pacer_tick_outlived_lock", tick_s=round(last_tick_at - asked_at, 3), lock_ttl_s=lock.ttl_s)
        if report.granted:
            log.debug("pacer_tick", granted=report.granted, by_identity=report.by_identity)
    else:
        leading.clear()
    return leader, last_tick_at


async def _sweep_while_leading(
    sweeper: Sweeper, every_s: float, leading: asyncio.Event, stop: asyncio.Event, watch: InstanceWatch
) -> None:
    """Sweep every `every_s` while this process leads (only the leader sweeps, as only it grants); first
    see that Redis still holds its data (store/instance.py)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(leading.wait(), timeout=every_s)
        if leading.is_set() and not stop.is_set():
            try:
                lost = await watch.check(sweeper.pacer.wall.now())
                if lost is not None:
                    log.error(
                        "redis_data_lost",
                        previous_instance=lost.instance,
                        detail="Redis no longer holds what it held (a restart without an append-only file, or a "
                        "flush): its campaigns, ledgers and suppression lists are gone; submit refuses until "
                        "`submit --after-data-loss`",
                    )
                stats = await sweeper.sweep()
            except Exception as exc:  # Redis restarting, a provider outage: sweep again next time
                log.warning("sweep_failed", error=type(exc).__name__, detail=error_text(exc)[:200])
            else:
                if any(stats.values()):
                    log.info("sweep", **stats)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


async def serve_pacer(settings: Settings, stop: asyncio.Event) -> None:
    """`orchestrate pacer`: the pacer on the system clock with its own Redis and SES clients, until `stop`."""
    from orchestrator.ses.client import build_sender

    redis = redis_from_url(settings.redis_url)
    sender = build_sender(settings, redis)
    pacer = build_pacer(redis, SystemClock(), pacer_config(settings), sender=sender)
    sync = BlocklistSync(redis, sender, SystemClock(), settings.blocklist_sync_s)
    log.info("pacer_started", interval_s=settings.pacer_interval_s, lock_ttl_s=settings.pacer_lock_ttl_s)
    try:
        await run_pacer(
            pacer,
            settings.pacer_interval_s,
            settings.sweep_interval_s,
            stop=stop,
            blocklist=sync,
            lock_ttl_s=settings.pacer_lock_ttl_s,
        )
    finally:
        await sender.close()
        await redis.aclose()
