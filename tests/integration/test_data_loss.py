"""A Redis that loses its data under a running pacer: the pacer says so, and submit refuses to mail the
lost campaign's recipients again until the operator says the mailed ones are out of the list."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.core.clock import SystemClock
from orchestrator.store import campaigns, instance, keys
from tests.pipeline_helpers import write_campaign
from workers.pacer import build_pacer, run_pacer


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


async def test_a_pacer_notes_redis_emptied_and_submit_refuses_until_told(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """FLUSHALL (what a restart without an append-only file amounts to) under a running pacer: it logs
    redis_data_lost and leaves the note; submit then exits 1 naming the loss and writes nothing; with
    --after-data-loss it submits and the note is gone; status warns while the note stands."""
    stop = asyncio.Event()
    pacer = build_pacer(redis, SystemClock())
    with structlog.testing.capture_logs() as logs:
        running = asyncio.create_task(run_pacer(pacer, interval_s=0.02, sweep_every_s=0.02, stop=stop))

        async def marked() -> bool:
            return await redis.get(keys.INSTANCE) is not None

        await _until(marked)
        await asyncio.sleep(0.1)  # a sweep or two with the marker standing: no loss
        assert await instance.loss(redis) is None
        await redis.flushall()

        async def noted() -> bool:
            return await instance.loss(redis) is not None

        await _until(noted)
        stop.set()
        await running
    assert len([e for e in logs if e["event"] == "redis_data_lost"]) == 1
    env = {"REDIS_URL": redis_url}
    campaign = write_campaign(tmp_path, 10)
    refused = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(campaign)], env=env)
    assert refused.exit_code == 1
    assert "error: Redis lost its data at " in refused.output
    assert "--after-data-loss" in refused.output
    assert await campaigns.all_ids(redis) == []
    status = await asyncio.to_thread(CliRunner().invoke, main, ["status"], env=env)
    assert "warning: Redis lost its data at " in status.output
    done = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(campaign), "--after-data-loss"], env=env)
    assert done.exit_code == 0, done.output
    assert len(await campaigns.all_ids(redis)) == 1
    assert await instance.loss(redis) is None
    status = await asyncio.to_thread(CliRunner().invoke, main, ["status"], env=env)
    assert "lost its data" not in status.output


async def test_a_pacer_that_starts_on_a_marked_redis_sees_no_loss(redis: Redis) -> None:
    """The marker stands across pacers (and a restart with its append-only file): nothing is noted."""
    await instance.mark(redis, 1.0)
    first = await redis.get(keys.INSTANCE)
    watch = instance.InstanceWatch(redis)
    await watch.start(2.0)
    assert await watch.check(3.0) is None
    assert await redis.get(keys.INSTANCE) == first
    assert await instance.loss(redis) is None
