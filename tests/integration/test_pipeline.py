"""The send pipeline on a real redis-server with a virtual clock: paced, never over, never twice.

Sends go through the official SDK (TencentSender) over HTTP to the SES emulator on the same clock; the
checks read the emulator's send log and call log.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.core.plan import Plan
from orchestrator.ses.emulator import FaultRule
from orchestrator.store import campaigns, events, keys
from orchestrator.submit import submit
from tests.fakes import submit_file
from tests.pipeline_harness import sender_domain, tencent_run
from tests.pipeline_helpers import group_times, load, max_in_rolling_window, per_local_day, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


async def test_pipeline_paces_to_plan_with_four_workers(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """Four workers over three simulated days: caps hold in every rolling hour and day, >= 95 % used."""
    path = write_campaign(tmp_path, 3000, identities=2, extra={"plan": {"scale": 0.2}})
    cid = await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, workers=4) as (run, emu):
        await run.run_until(START + 3 * 86400)
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    by_identity = group_times((sender_domain(r), r.time) for r in emu.send_log)
    plan = Plan(scale=0.2)
    # Default plan scaled by 0.2: day 1 200/40, day 2 300/40, day 3 400/80 per identity.
    assert len(by_identity) == 2
    for times in by_identity.values():
        days = per_local_day(times)
        assert [days["2026-12-01"], days["2026-12-02"], days["2026-12-03"]] == [200, 300, 400]
        assert max_in_rolling_window([t for t in times if t < START + 2 * 86400]) <= plan.caps(2).hourly
        assert max_in_rolling_window(times) <= plan.caps(3).hourly
        # With a backlog every full hour of the first day uses at least 95 % of the hourly cap.
        for hour in range(4):
            sent = sum(1 for t in times if START + hour * 3600 <= t < START + (hour + 1) * 3600)
            assert sent >= 0.95 * 40, (hour, sent)
    addresses = [r.to_address for r in emu.send_log]
    assert len(addresses) == len(set(addresses))
    c = rec.counts
    assert c["accepted"] == len(emu.send_log)
    assert sum(c.values()) == 3000


async def test_pipeline_transient_errors_all_finish(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """With 30 % of calls failing transiently, every recipient finishes, once, after growing backoffs."""
    path = write_campaign(tmp_path, 300, identities=1)
    cid = await submit_file(redis, path, START)
    clock = VirtualClock(START)
    faults = [FaultRule(code="InternalError", rate=0.3)]
    async with tencent_run(redis_url, clock, workers=2, faults=faults) as (run, emu):
        await run.run_until(START + 2 * 86400)
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    c = rec.counts
    assert c["accepted"] + c["failed"] == 300
    assert c["accepted"] >= 299  # failing 8 tries in a row at 30 % is a 1-in-15,000 event
    assert rec.state.value == "completed"
    assert Counter(r.to_address for r in emu.send_log).most_common(1)[0][1] == 1
    assert len(emu.send_log) == c["accepted"]
    assert await redis.hlen(keys.MESSAGE_IDS) == c["accepted"]  # type: ignore[misc]
    # Every SendEmail the emulator failed is a retry the pipeline scheduled for one recipient, at that instant.
    failed = sorted(call.time for call in emu.call_log if call.action == "SendEmail" and call.error == "InternalError")
    assert len(failed) > 50
    retries = [e for e in await events.read(redis, cid, count=100_000) if e.type in ("send_retry", "send_failed")]
    assert sorted(e.t for e in retries) == failed
    # Backoff: the gaps between one recipient's failed tries grow (30 s, 60 s, 120 s ... + jitter).
    tries: dict[str, list[float]] = {}
    for e in sorted(retries, key=lambda e: e.t):
        tries.setdefault(e.data["index"], []).append(e.t)
    assert any(len(ts) >= 3 for ts in tries.values()), "some recipient failed at least three times"
    for ts in tries.values():
        # Try k + 1 waits at least 30 s x 2^k after try k (plus jitter, then the identity's next 72 s slot,
        # which can make two gaps in a row equal).
        g = [b - a for a, b in itertools.pairwise(ts)]
        assert all(gap >= 30.0 * 2**k for k, gap in enumerate(g)), g


@pytest.mark.parametrize("n", [1, 5])
async def test_submit_counts_add_up(redis: Redis, tmp_path: Path, n: int) -> None:
    """A submit's counts add up: rows = valid + invalid + duplicates + suppressed."""
    path = write_campaign(tmp_path, n)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    s = result.stats
    assert s.total == n
    assert s.total == s.valid + s.invalid + s.duplicates + s.suppressed
