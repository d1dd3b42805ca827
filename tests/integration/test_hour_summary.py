"""The campaign's hour summaries (event `hour_summary`, and a progress line in the pacer's log): each hour
with grants is summed up once it ends, when the sending window closes too, and the last one when the
campaign completes."""

from __future__ import annotations

import json
import os

import structlog

from orchestrator.logging_setup import configure_logging
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import FaultRule
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import events, keys
from tests.pipeline_harness import START, Pipeline, recipients_csv, settings_for

HOUR = 3600.0


async def test_every_hour_with_grants_is_summed_up_when_it_ends_and_the_last_at_completion(pipe: Pipeline) -> None:
    """09:00-11:00 window, 40 an hour, 100 recipients: 40 on day 1 at 09:00 and 10:00 each, 20 the next
    morning. The 10:00 hour was summed up only the next morning (the tick returned for the closed window
    before it), and the last hour never (the campaign completed first)."""
    plan = {"plan": {"rows": [{"days": "1-9", "daily": 100000, "hourly": 40}]}, "sending_window": "09:00-11:00"}
    rows = "".join(f"u{n}@naver.com,U{n}\n" for n in range(100))
    await pipe.submit("email,first_name\n" + rows, extra=plan)
    await pipe.run(2 * 86400)
    got = [e for e in await events.read(pipe.redis, pipe.cid, count=100000) if e.type == "hour_summary"]
    summed = [(e.data["date"], e.data["hour"], sum(json.loads(e.data["granted"]).values())) for e in got]
    assert summed == [
        ("2026-12-01", "09:00", 40),
        ("2026-12-01", "10:00", 40),
        ("2026-12-02", "09:00", 20),
    ]
    assert got[1].t - START < 11 * HOUR + 60  # when the window closed, not the next morning
    types = [e.type for e in await events.read(pipe.redis, pipe.cid, count=100000)]
    assert types.index("campaign_completed") > max(i for i, t in enumerate(types) if t == "hour_summary")
    assert int(got[2].data["accepted"]) >= 80  # the totals so far, read at the tick that summed it up


async def test_an_automatic_pause_is_a_warning_and_each_hour_a_progress_line(pipe: Pipeline) -> None:
    """With LOG_LEVEL=WARNING an operator still sees the campaign pause itself on Tencent's answer (it was
    logged at info, as every send outcome), and at info each hour has one progress line."""
    await pipe.submit(recipients_csv(n_others=600))  # 360 an hour: under way for more than an hour
    configure_logging("json", "INFO")
    try:
        with structlog.testing.capture_logs() as logs:
            await pipe.run(4000)
            pipe.emu.world.faults.append(FaultRule(code="OperationDenied.TemplateStatusError", count=1))
            await pipe.run(3600)
    finally:
        configure_logging("json", os.environ.get("TEST_LOG_LEVEL", "WARNING"))
    warned = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warned] == ["send_pause"], warned
    assert warned[0]["code"] == "OperationDenied.TemplateStatusError"
    hours = [e for e in logs if e["event"] == "hour_summary"]
    assert [(e["log_level"], e["campaign"], e["hour"]) for e in hours][:1] == [("info", pipe.cid, "00:00")]
    assert (await pipe.record()).state.value == "paused"


async def test_a_damaged_hour_count_at_completion_costs_only_the_last_summary(pipe: Pipeline) -> None:
    """The hour counts hold another type when the campaign completes: it completes, and its
    `campaign_completed` and `campaign_counts` events are written (the summary's error skipped them)."""
    await pipe.submit(recipients_csv(n_others=2))
    ck = keys.CampaignKeys(pipe.cid)
    async with (
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender) as run,
    ):
        while (await pipe.record()).counts["accepted"] < 3:
            await run.step()
            pipe.clock.advance(5.0)
        day = next(iter([k async for k in pipe.redis.scan_iter(match=ck.hours_prefix + "*")]))
        await pipe.redis.delete(day)
        await pipe.redis.rpush(day, "not a hash")
        await run.step()
    assert (await pipe.record()).state.value == "completed"
    types = [e.type for e in await events.read(pipe.redis, pipe.cid, count=1000)]
    assert types[-2:] == ["campaign_completed", "campaign_counts"]
