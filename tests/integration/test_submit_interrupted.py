"""A stopped submit removes what it staged even when cancelled again and again while it does (a second
Ctrl-C; `run` cancels again every half second until the command has ended)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


async def _staging_began(redis: Redis) -> None:
    for _ in range(3000):
        async for _key in redis.scan_iter(match="wo:c:*:r:*", count=1000):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the submit staged nothing within 30 s")


async def test_a_submit_cancelled_again_while_it_cleans_up_leaves_nothing(redis: Redis, tmp_path: Path) -> None:
    """Cancelled while it stages, then again at every turn of the event loop until it ended: not one key is left (the
    staged records, the claim on the files), and the same files submit at once."""
    path = write_campaign(tmp_path, 60_000)
    campaign, fp = load(path)
    task = asyncio.create_task(submit(redis, campaign, fp, START, str(path)))
    await _staging_began(redis)
    while not task.done():
        task.cancel()
        await asyncio.sleep(0)  # at every turn of the loop: a cancel lands in whatever the cleanup awaits
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [k async for k in redis.scan_iter(count=1000)] == []
    result = await submit(redis, campaign, fp, START, str(path))
    assert (result.created, result.stats.valid) == (True, 60_000)
