"""Campaigns that send through the same identities: the pool's ceiling (`pool.multiplier` x the plan) holds
for its identities together, whichever campaign sent through them (counted from the identities' own
counters), and the recipient-domain share is of the identity's hour, every campaign's mail in it. Checked
in Tencent's send log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.pacing import PacerConfig
from orchestrator.store import campaigns
from tests.fakes import submit_file
from tests.pipeline_harness import START, sender_domain, tencent_run
from tests.pipeline_helpers import max_in_rolling_window
from workers.pacer import build_pacer

pytestmark = [pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning")]

DAY = 86400.0
PER_IDENTITY = 20  # the plan's daily and hourly cap of one identity
CEILING = 5 * PER_IDENTITY  # pool.multiplier 5 x the plan
DOMAINS = [f"d{k}.example.com" for k in range(6)]


def _campaign(
    tmp: Path, name: str, identities: int, rows: int, domains: list[str] | None = None, **more: object
) -> Path:
    doms = domains or ["naver.com"]
    (tmp / f"{name}.csv").write_text(
        "email,first_name\n" + "".join(f"{name}{i}@{doms[i % len(doms)]},N\n" for i in range(rows)), encoding="utf-8"
    )
    doc = {
        "name": name,
        "timezone": "UTC",
        "identities": [{"id": f"p-id{k}", "from": f"News <news@{DOMAINS[k]}>"} for k in range(identities)],
        "plan": {"rows": [{"days": "1-9", "daily": PER_IDENTITY, "hourly": PER_IDENTITY}]},
        "template": {"id": 1, "subject": "Hi {{name}}", "data": {"name": {"column": "first_name"}}},
        "recipients": {"file": f"{name}.csv", "email_column": "email", "shuffle_seed": 7},
        "shaping": {"max_domain_share": 1.0},
    } | more
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _first_day(log: list) -> list:  # type: ignore[type-arg]
    return [r for r in log if r.time < START + DAY]


async def test_a_campaign_after_another_on_the_same_day_gets_only_what_the_pool_has_left(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """A's 5 identities spend the pool's day; B, submitted the same day with those 5 and one more, sends
    nothing more that day (its own count started from nothing: 20 more through the new identity)."""
    a = await submit_file(redis, _campaign(tmp_path, "a", 5, CEILING), START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, domains=DOMAINS) as (run, emu):
        while (await campaigns.get(redis, a)).state.value != "completed":  # type: ignore[union-attr]
            await run.run_until(clock.now() + 600)
        await submit_file(redis, _campaign(tmp_path, "b", 6, 4 * CEILING), clock.now())
        await run.run_until(START + DAY + 6 * 3600)
    day = _first_day(emu.send_log)
    assert Counter(r.to_address[0] for r in day) == {"a": CEILING}  # Tencent's own log
    assert max_in_rolling_window([r.time for r in emu.send_log]) <= CEILING
    assert sum(r.to_address[0] == "b" for r in emu.send_log) > 0  # B goes on the next day


async def test_two_campaigns_on_the_same_identities_share_one_pool_ceiling(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Two running campaigns on 6 identities: the 6 together send the ceiling a day (5 x the plan), not
    each campaign its own ceiling (up to 6 x the plan, the identities' caps, were the pool's day split
    among the identities otherwise)."""
    for name in ("c", "d"):
        await submit_file(redis, _campaign(tmp_path, name, 6, 2 * CEILING), START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, domains=DOMAINS) as (run, emu):
        await run.run_until(START + 2 * DAY)
    day = _first_day(emu.send_log)
    assert len(day) == CEILING
    assert max(Counter(sender_domain(r) for r in day).values()) <= PER_IDENTITY
    assert max_in_rolling_window([r.time for r in emu.send_log]) <= CEILING
    assert len(emu.send_log) == 2 * CEILING


async def test_the_domain_share_counts_every_campaigns_mail_on_the_identity(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """One identity at 200 an hour, a 30 % domain share: campaign A mails only gmail.com, B five domains. A
    took gmail.com to half the identity's hour while B's other domains waited (A saw no mail of its own
    waiting); now gmail.com keeps to its share of the hour while B's mail waits."""
    doms = ["gmail.com", "naver.com", "daum.net", "outlook.com", "nate.com"]
    plan = {"rows": [{"days": "1-9", "daily": 100000, "hourly": 200}]}
    shaping = {"max_domain_share": 0.3}
    for name, domains in (("a", ["gmail.com"]), ("b", doms)):
        path = _campaign(tmp_path, name, 1, 400, domains, plan=plan, shaping=shaping)
        await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, domains=DOMAINS[:1]) as (run, emu):
        await run.run_until(START + 3600)
    hour = [r for r in emu.send_log if r.time < START + 3600]
    gmail = sum(r.to_address.endswith("@gmail.com") for r in hour)
    assert len(hour) >= 190  # the identity's hour is used: nothing stalls
    assert gmail <= 0.3 * len(hour) + 2, (gmail, len(hour))


@pytest.mark.parametrize("stepping", ["ticks-1s-apart", "run-until"])
async def test_campaigns_on_the_same_identities_take_each_ones_slots_in_turn(
    redis: Redis, redis_url: str, tmp_path: Path, stepping: str
) -> None:
    """Two identities at 200 and 400 an hour, both campaigns on both. One turn for all campaigns, moved on
    every tick (or every grant), fell into step with a slot period: one campaign was first at every slot
    of an identity and the other got none of its hour (200 of 200 with one identity and ticks 1 s apart;
    0 of p-id0's 200 with two identities). Each identity's last taker now goes after the others."""
    plan = {"rows": [{"days": "1", "daily": 100000, "hourly": 200}, {"days": "2-9", "daily": 100000, "hourly": 400}]}
    for name in ("a", "b"):
        path = _campaign(tmp_path, name, 2, 1000, plan=plan)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["identities"][1]["warmup_day"] = 2
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, domains=DOMAINS[:2]) as (run, emu):
        if stepping == "run-until":
            await run.run_until(START + 3600)
        while clock.now() < START + 3600:
            await run.step()
            clock.advance(1.0)
    got = Counter((r.to_address[0], sender_domain(r)) for r in emu.send_log if r.time < START + 3600)
    for domain, hourly in ((DOMAINS[0], 200), (DOMAINS[1], 400)):
        assert got["a", domain] + got["b", domain] >= hourly - 1
        assert abs(got["a", domain] - got["b", domain]) <= 2, got


@pytest.mark.parametrize(
    "later",
    [
        pytest.param({"start": "2026-12-02"}, id="starts-tomorrow"),
        pytest.param({"sending_window": "08:00-22:00"}, id="window-closed"),
    ],
)
async def test_mail_that_cannot_go_now_does_not_hold_the_domain_share(
    redis: Redis, redis_url: str, tmp_path: Path, later: dict[str, str]
) -> None:
    """Campaign B on the identity may not send yet (it starts tomorrow, or its window opens at 08:00): its
    waiting mail does not hold A's gmail.com to its share, so A has the identity's whole hour (it got 61 of
    200 while B could send nothing)."""
    plan = {"rows": [{"days": "1-9", "daily": 100000, "hourly": 200}]}
    shaping = {"max_domain_share": 0.3}
    await submit_file(redis, _campaign(tmp_path, "a", 1, 400, ["gmail.com"], plan=plan, shaping=shaping), START)
    path = _campaign(tmp_path, "b", 1, 400, ["naver.com", "daum.net"], plan=plan, shaping=shaping, **later)
    await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, domains=DOMAINS[:1]) as (run, emu):
        await run.run_until(START + 3600)
    hour = Counter(r.to_address[0] for r in emu.send_log if r.time < START + 3600)
    assert hour == {"a": 200}


async def test_a_tick_reads_each_campaigns_waiting_mail_once_not_once_per_campaign_sharing_it(
    redis: Redis, tmp_path: Path
) -> None:
    """12 campaigns on the same 2 identities, the domain share on: what each has waiting (the share holds for
    the others' mail too) is read once in a tick, and again only after a grant of its own moved it; it was read
    by every other campaign for every identity: 12 x 11 x 2 queue lengths a tick, 65,000 reads at 128."""
    n = 12
    for k in range(n):
        await submit_file(redis, _campaign(tmp_path, f"c{k}x", 2, 30, shaping={"max_domain_share": 0.3}), START)
    pacer = build_pacer(redis, VirtualClock(START), PacerConfig())
    await redis.config_resetstat()
    report = await pacer.tick()
    stats = await redis.info("commandstats")
    queue_reads = stats.get("cmdstat_llen", {}).get("calls", 0)
    assert report.granted > 0
    assert queue_reads <= n + report.granted + 2 * n, (queue_reads, report.granted)
