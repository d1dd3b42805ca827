"""What `pause` reports: the sends in flight at the pause, and those still in flight after its wait."""

from __future__ import annotations

import asyncio

from orchestrator.control import cancel_campaign, pause_campaign
from orchestrator.store import keys
from tests.pipeline_harness import Pipeline


async def test_the_report_keeps_the_count_at_the_pause_and_the_count_after_the_wait(pipe: Pipeline) -> None:
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(5)))
    ck = keys.CampaignKeys(pipe.cid)
    await pipe.redis.hset(ck.counts, mapping={"granted": 2, "inflight": 1})  # three sends under way

    async def finish_two_of_them() -> None:
        await asyncio.sleep(0.3)
        await pipe.redis.hset(ck.counts, mapping={"granted": 0, "inflight": 1})

    settled = asyncio.create_task(finish_two_of_them())
    report = await pause_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=1.0)
    await settled
    assert isinstance(report, dict)
    assert (report["in_flight_at_pause"], report["still_in_flight"]) == (3, 1)


async def test_cancel_reports_and_waits_for_the_sends_in_flight_as_pause_does(pipe: Pipeline) -> None:
    await pipe.submit("email,first_name\n" + "".join(f"u{n}@d0.example.com,U{n}\n" for n in range(5)))
    ck = keys.CampaignKeys(pipe.cid)
    await pipe.redis.hset(ck.counts, mapping={"granted": 1, "inflight": 1})

    async def finish_them() -> None:
        await asyncio.sleep(0.3)
        await pipe.redis.hset(ck.counts, mapping={"granted": 0, "inflight": 0})

    settled = asyncio.create_task(finish_them())
    report = await cancel_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator", wait_s=2.0)
    await settled
    assert isinstance(report, dict)
    assert (report["state"], report["changed"], report["in_flight_at_cancel"], report["still_in_flight"]) == (
        "cancelled",
        True,
        2,
        0,
    )
    again = await cancel_campaign(pipe.redis, pipe.cid, pipe.clock, "test", "operator")
    assert isinstance(again, dict)
    assert again["changed"] is False
