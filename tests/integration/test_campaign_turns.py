"""Two running campaigns on one Tencent account share its send rate: neither waits for the other to finish.

The sends go through the official SDK (TencentSender), each after taking its slot of the account's API
budget as `simulate` takes it on a virtual clock, over HTTP to the SES emulator on the run's clock, which
holds the account to Tencent's 20 API calls in any rolling second. Its call log is where the account's
rate is counted, as Tencent counts it; its send log says which campaign each mail was of.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from tests.fakes import submit_file
from tests.pipeline_harness import START, sender_domain, tencent_run
from tests.pipeline_helpers import max_in_rolling_window, write_campaign

#: Caps far above the account's SendEmail pace (about 15 a second): the account's rate is what binds.
WIDE_OPEN: dict[str, object] = {"plan": {"rows": [{"days": "1-3", "daily": 1_000_000, "hourly": 100_000}]}}
#: Tencent's API rate per account: every call counts, whatever its action.
TENCENT_RATE_PER_S = 20


async def test_campaigns_on_one_account_take_turns_at_its_rate(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """Two lists of 3,000 on one account, caps far above its pace: in the first minute each campaign gets at
    least 35 % of the sends (each tick starts with the next campaign, so the first one to be walked cannot
    take every slot of the account's pace while the other waits for it to finish), and together they keep
    to the account's rate at Tencent: more than 500 sends, no call refused, no rolling second over 20."""
    for name in ("first", "second"):
        rows = "email,first_name\n" + "".join(f"{name}{i}@naver.com,N\n" for i in range(3000))
        own = {"identities": [{"id": f"{name}-id", "from": f"News <news@{name}.example.com>"}]}
        path = write_campaign(tmp_path, 0, name=name, extra=WIDE_OPEN | own, csv_text=rows)
        await submit_file(redis, path, START)
    clock = VirtualClock(START)
    domains = ["first.example.com", "second.example.com"]
    pipeline = tencent_run(redis_url, clock, domains=domains, account_rate_per_s=TENCENT_RATE_PER_S, paced=True)
    async with pipeline as (run, emu):
        await run.run_until(START + 60)
    calls = [c for c in emu.call_log if c.account == "default"]
    sends = [c for c in calls if c.action == "SendEmail"]
    assert len(sends) > 500  # the account's pace for a minute, not the caps
    assert [c for c in calls if c.error is not None] == []  # none refused, RequestLimitExceeded least of all
    assert max_in_rolling_window((c.time for c in calls), window_s=1.0) <= TENCENT_RATE_PER_S
    by_campaign = Counter(sender_domain(r).partition(".")[0] for r in emu.send_log)
    assert sum(by_campaign.values()) == len(sends)
    assert min(by_campaign["first"], by_campaign["second"]) >= 0.35 * len(sends), by_campaign
