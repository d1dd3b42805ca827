"""The pacer's leader lock: a standby takes over once the leader stops renewing; a tick past the lock is told."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis

from orchestrator.core.clock import SystemClock
from orchestrator.logging_setup import configure_logging
from orchestrator.pacing import TickReport
from orchestrator.store import keys
from tests.pipeline_harness import Pipeline, recipients_csv
from workers.pacer import build_pacer, run_pacer


@pytest.fixture(autouse=True)
def _info_level() -> Iterator[None]:
    """Leadership changes are info events: let them through while these tests run."""
    configure_logging("json", "INFO")
    yield
    configure_logging("json", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


async def _stop_once(stop: asyncio.Event, seen: Callable[[], bool], deadline_s: float = 15.0) -> None:
    """Stop the pacer once `seen()` holds (no fixed run time: a loaded machine ticks late), or at the deadline."""
    for _ in range(int(deadline_s / 0.02)):
        if seen():
            break
        await asyncio.sleep(0.02)
    stop.set()


def _leadership(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "pacer_leadership"]


async def test_standby_pacer_leads_once_a_dead_leaders_lock_lapses(redis: Redis) -> None:
    """A lock left by a killed pacer (never released) lapses after its TTL; the standby leads at its next tick."""
    await redis.set(keys.PACER_LOCK, "dead-pacer", px=300)
    stop = asyncio.Event()
    pacer = build_pacer(redis, SystemClock())
    with structlog.testing.capture_logs() as logs:
        waited = _stop_once(stop, lambda: bool(_leadership(logs)))
        await asyncio.gather(run_pacer(pacer, interval_s=0.05, stop=stop, lock_ttl_s=1.0), waited)
    assert [e["leader"] for e in _leadership(logs)] == [True]
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
        waited = _stop_once(stop, lambda: len(_leadership(logs)) >= 2)
        await asyncio.gather(run_pacer(pacer, interval_s=0.05, stop=stop, lock_ttl_s=0.3), waited)
    outlived = [e for e in logs if e["event"] == "pacer_tick_outlived_lock"]
    assert len(outlived) == 1
    assert outlived[0]["tick_s"] >= 0.5
    leadership = _leadership(logs)
    assert [e["leader"] for e in leadership] == [True, False]
    assert "last_tick_at" in leadership[1]
    assert await redis.get(keys.PACER_LOCK) == "standby"  # the loser never released the other's lock


async def test_a_pacer_whose_lock_lapsed_grants_nothing_while_another_leads(pipe: Pipeline) -> None:
    """The grant script checks the fence: a pacer mid-tick after a standby took the lock grants nothing more."""
    await pipe.submit(recipients_csv(n_others=20))
    old, new = build_pacer(pipe.redis, pipe.clock), build_pacer(pipe.redis, pipe.clock)
    old.limiter.fence, new.limiter.fence = "old-leader", "new-leader"
    await pipe.redis.set(keys.PACER_LOCK, "new-leader", px=60_000)  # the standby took over

    with structlog.testing.capture_logs() as logs:
        fenced = await old.tick()
    assert fenced.granted == 0
    assert [e["event"] for e in logs if e["event"] == "pacer_grant_fenced"] == ["pacer_grant_fenced"]
    assert await pipe.redis.zcard(keys.CampaignKeys(pipe.cid).inflight) == 0
    assert (await new.tick()).granted > 0  # the lock's holder grants as before

    await pipe.redis.delete(keys.PACER_LOCK)  # nobody leads: a fenced pacer grants nothing either
    assert (await old.tick()).granted == 0
