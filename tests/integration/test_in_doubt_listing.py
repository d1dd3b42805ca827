"""Sends that stay in doubt are parked for the operator, counted, and listed by `status --in-doubt`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.core.clock import VirtualClock
from orchestrator.core.sending import LookupResult, LookupVerdict, OutcomeKind, SendOutcome, SendRequest, StatusQuery
from orchestrator.pacing import PacerConfig
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import campaigns, events
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@dataclass
class UndecidableSender:
    """Every send times out after it may have left, and the status lookup never decides."""

    lookups: int = 0

    async def send(self, request: SendRequest) -> SendOutcome:
        return SendOutcome(OutcomeKind.IN_DOUBT, code="ReadTimeout", detail="no answer")

    async def lookup(self, query: StatusQuery) -> LookupResult:
        self.lookups += 1
        return LookupResult(LookupVerdict.UNKNOWN, detail="status API unavailable")

    async def close(self) -> None:
        return None


async def test_undecidable_sends_are_parked_counted_and_listed(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """After the reconcile window, undecided sends stay in doubt, are never resent, and are listed."""
    path = write_campaign(tmp_path, 3, identities=1)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START, str(path))).campaign_id
    clock = VirtualClock(START)
    sender = UndecidableSender()
    config = PacerConfig(reconcile_window_s=1800.0)
    async with VirtualRun(redis_url, clock, sender, config) as run:
        await run.run_until(START + 4 * 3600, sweep_every_s=60.0)
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    assert rec.counts["in_doubt"] == 3
    assert rec.counts["accepted"] == 0
    assert sender.lookups >= 3  # each was looked up, more than once while the window lasted
    types = [e.type for e in await events.read(redis, cid)]
    assert types.count("in_doubt_unresolved") == 3
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", cid, "--in-doubt", "--json"], env={"REDIS_URL": redis_url}
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted(r["address"] for r in rows) == ["user0@gmail.com", "user1@naver.com", "user2@daum.net"]
