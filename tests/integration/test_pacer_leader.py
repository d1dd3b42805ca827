"""The pacer's leader lock: a standby takes over once the leader stops renewing; a tick past the lock is told."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
import structlog
from redis.asyncio import Redis

from orchestrator.core.clock import SystemClock
from orchestrator.logging_setup import configure_logging
from orchestrator.pacing import TickReport
from orchestrator.store import keys
from workers.pacer import build_pacer, run_pacer


@pytest.fixture(autouse=True)
def _info_level() -> Iterator[None]:
    """Leadership changes are info events: let them through while these tests run."""
    configure_logging("json", "INFO")
    yield
    configure_logging("json", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


async def _run_for(coro_stop: asyncio.Event, seconds: float) -> None:
    await asyncio.sleep(seconds)
    coro_stop.set()


async def test_standby_pacer_leads_once_a_dead_leaders_lock_lapses(redis: Redis) -> None:
    """A lock left by a killed pacer (never released) lapses after its TTL; the standby leads at its next tick."""
    await redis.set(keys.PACER_LOCK, "dead-pacer", px=300)
    stop = asyncio.Event()
    pacer = build_pacer(redis, SystemClock())
    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(run_pacer(pacer, interval_s=0.05, stop=stop, lock_ttl_s=1.0), _run_for(stop, 0.6))
    assert [e["leader"] for e in logs if e["event"] == "pacer_leadership"] == [True]
    assert await redis.get(keys.PACER_LOCK) is None  # released on a clean stop


async def test_tick_longer_than_the_lock_is_reported_and_the_loss_says_when_it_last_led(redis: Redis) -> None:
    """A tick that outlives the lock warns (a standby may have granted meanwhile); the loss says when it last led."""
    pacer = build_pacer(redis, SystemClock())
    ticks = 0

    async def slow_tick() -> TickReport:
        nonlocal ticks
        ticks += 1
        if ticks == 1:
            await asyncio.sleep(0.5)  # past the 0.3 s lock: another pacer takes it meanwhile
            await redis.set(keys.PACER_LOCK, "standby")
        return TickReport()

    pacer.tick = slow_tick  # type: ignore[method-assign]
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(run_pacer(pacer, interval_s=0.05, stop=stop, lock_ttl_s=0.3), _run_for(stop, 0.8))
    outlived = [e for e in logs if e["event"] == "pacer_tick_outlived_lock"]
    assert len(outlived) == 1
    assert outlived[0]["tick_s"] >= 0.5
    leadership = [e for e in logs if e["event"] == "pacer_leadership"]
    assert [e["leader"] for e in leadership] == [True, False]
    assert "last_tick_at" in leadership[1]
    assert await redis.get(keys.PACER_LOCK) == "standby"  # the loser never released the other's lock
