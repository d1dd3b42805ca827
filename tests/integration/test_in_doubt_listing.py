"""Sends that stay in doubt are parked for the operator, counted, and listed by `status --in-doubt`.

Every send goes through the official SDK (TencentSender) over HTTP to the SES emulator on the run's
virtual clock. The emulator takes each mail and then holds its answer back past the SDK's timeout, and
fails every GetSendEmailStatus with a transient InternalError: no lookup can tell whether a mail left.
What reached Tencent is read from the emulator's send and call logs.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from unittest.mock import ANY

from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.core.clock import VirtualClock
from orchestrator.pacing import PacerConfig
from orchestrator.ses.emulator import FaultRule
from orchestrator.ses.emulator.world import TIMEOUT_AFTER_ACCEPT
from orchestrator.store import campaigns, compaction, events
from tests.fakes import submit_file
from tests.pipeline_harness import START, tencent_run
from tests.pipeline_helpers import write_campaign

#: The SDK gives up on an answer after this long (real seconds) ...
SES_TIMEOUT_S = 0.2
#: ... and the emulator holds each SendEmail answer back this long after taking the mail.
HANG_S = 5.0
UNDECIDABLE = [
    FaultRule(code=TIMEOUT_AFTER_ACCEPT, action="SendEmail", hang_s=HANG_S),
    FaultRule(code="InternalError", action="GetSendEmailStatus"),
]
ADDRESSES = ["user0@gmail.com", "user1@naver.com", "user2@daum.net"]


async def test_undecidable_sends_are_parked_counted_and_listed(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """After the reconcile window, undecided sends stay in doubt, are never resent, and are listed.

    Tencent took each of the three mails once, and was asked about them at least twice as many times
    while the window lasted; all three are counted in doubt (none accepted), each has its `in_doubt_unresolved` event,
    and `status --in-doubt --json` lists exactly their addresses.
    """
    path = write_campaign(tmp_path, 3, identities=1)
    cid = await submit_file(redis, path, START)
    clock = VirtualClock(START)
    config = PacerConfig(reconcile_window_s=1800.0)
    async with tencent_run(redis_url, clock, faults=UNDECIDABLE, config=config, timeout_s=SES_TIMEOUT_S) as (run, emu):
        await run.run_until(START + 4 * 3600, sweep_every_s=60.0)
    assert Counter(r.to_address for r in emu.send_log) == Counter(ADDRESSES)  # each reached Tencent, once
    sends = [c for c in emu.call_log if c.action == "SendEmail"]
    assert [c.error for c in sends] == [TIMEOUT_AFTER_ACCEPT] * 3  # and none was answered in time
    lookups = [c for c in emu.call_log if c.action == "GetSendEmailStatus"]
    assert len(lookups) >= 2 * len(ADDRESSES)  # asked again and again while the window lasted
    assert {c.error for c in lookups} == {"InternalError"}
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    assert rec.counts["in_doubt"] == 3
    assert rec.counts["accepted"] == 0
    types = [e.type for e in await events.read(redis, cid)]
    assert types.count("in_doubt_unresolved") == 3
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", cid, "--in-doubt", "--json"], env={"REDIS_URL": redis_url}
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted(r["address"] for r in rows) == ADDRESSES
    # Thirty days on, the finished campaign's ledger is compacted: the operator's list stays.
    assert rec.state is campaigns.State.COMPLETED
    assert await compaction.compact(redis, cid, START + 31 * 86400.0, batches=1000) == (True, ANY)
    after = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", cid, "--in-doubt", "--json"], env={"REDIS_URL": redis_url}
    )
    assert after.exit_code == 0, after.output
    assert json.loads(after.output) == rows
