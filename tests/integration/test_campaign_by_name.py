"""A campaign named by its name: the newest running or paused one of that name, else the newest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.control import cancel_campaign, pause_campaign
from orchestrator.core.clock import VirtualClock
from orchestrator.store import campaigns
from orchestrator.submit import submit
from tests.pipeline_harness import FAST
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()


async def _submit_again(redis: Redis, path: Path, at: float) -> str:
    campaign, fp = load(path)
    return (await submit(redis, campaign, fp, at, str(path), force_new=True)).campaign_id  # as `submit --new`


async def test_a_name_means_the_campaign_still_running_not_a_newer_cancelled_one(redis: Redis, tmp_path: Path) -> None:
    """`pause spring-news` after a `submit --new` of it was cancelled: the running one is paused (it was
    refused: "campaign ...-new is cancelled"); once none of the name is unfinished, the newest is meant."""
    clock = VirtualClock(START)
    path = write_campaign(tmp_path, 5, name="news", identities=1, extra=FAST)
    first = await _submit_again(redis, path, START)
    second = await _submit_again(redis, path, START + 60)
    assert await campaigns.resolve(redis, "news") == second  # both running: the newest
    await cancel_campaign(redis, second, clock, "wrong template", "operator", wait_s=0)
    assert await campaigns.resolve(redis, "news") == first
    await pause_campaign(redis, first, clock, "lunch", "operator", wait_s=0)
    assert await campaigns.resolve(redis, "news") == first  # paused is unfinished too
    await cancel_campaign(redis, first, clock, "done", "operator", wait_s=0)
    assert await campaigns.resolve(redis, "news") == second  # none unfinished: the newest
    assert await campaigns.resolve(redis, "other") is None
    assert await campaigns.resolve(redis, first) == first
