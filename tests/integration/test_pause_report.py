"""What `pause` and `cancel` report: the sends in flight when they stopped the campaign, and those
still in flight after their wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestrator.control import Refused, cancel_campaign, pause_campaign
from orchestrator.store import keys
from tests.pipeline_harness import Pipeline


@pytest.mark.parametrize(
    ("stop", "state"),
    [pytest.param(pause_campaign, "paused", id="pause"), pytest.param(cancel_campaign, "cancelled", id="cancel")],
)
async def test_the_report_keeps_the_count_at_the_stop_and_the_count_after_the_wait(
    pipe: Pipeline, stop: Callable[..., Awaitable[dict[str, Any] | Refused]], state: str
) -> None:
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(5)))
    ck = keys.CampaignKeys(pipe.cid)
    await pipe.redis.hset(ck.counts, mapping={"granted": 2, "inflight": 1})  # three sends under way

    async def finish_two_of_them() -> None:
        await asyncio.sleep(0.3)
        await pipe.redis.hset(ck.counts, mapping={"granted": 0, "inflight": 1})

    settled = asyncio.create_task(finish_two_of_them())
    report = await stop(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=1.0)
    await settled
    assert isinstance(report, dict)
    assert (report["state"], report["changed"], report["in_flight_at_stop"], report["still_in_flight"]) == (
        state,
        True,
        3,
        1,
    )
    again = await stop(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=0)
    assert isinstance(again, dict)
    assert again["changed"] is False
