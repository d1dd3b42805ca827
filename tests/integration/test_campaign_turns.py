"""Two running campaigns on one Tencent account share its send rate: neither waits for the other to finish."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.core.sending import RecordingSender
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
#: Caps far above the account's SendEmail pace (about 15 a second): the account's rate is what binds.
WIDE_OPEN = {"plan": {"rows": [{"days": "1-3", "daily": 1_000_000, "hourly": 100_000}]}}


async def test_campaigns_on_one_account_take_turns_at_its_rate(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """The pacer walked the campaigns in the same order every tick: the first took every slot of the account's
    pace and the second sent nothing until the first had finished. Now each tick starts with the next one."""
    for name in ("first", "second"):
        rows = "email,first_name\n" + "".join(f"{name}{i}@naver.com,N\n" for i in range(3000))
        own = {"identities": [{"id": f"{name}-id", "from": f"News <news@{name}.example.com>"}]}
        path = write_campaign(tmp_path, 0, name=name, extra=WIDE_OPEN | own, csv_text=rows)
        campaign, fp = load(path)
        await submit(redis, campaign, fp, START, str(path))
    clock = VirtualClock(START)
    sender = RecordingSender()
    async with VirtualRun(redis_url, clock, sender) as run:
        await run.run_until(START + 60)
    by_campaign = Counter(r.to_address.rstrip("0123456789@naver.com") for r in sender.sent)
    total = sum(by_campaign.values())
    assert total > 500  # the account's pace for a minute, not the caps
    assert min(by_campaign["first"], by_campaign["second"]) >= 0.35 * total, by_campaign
