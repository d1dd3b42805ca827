"""Tencent's live daily quota of a sender domain is read and obeyed when it is below the plan."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.account_rate import CallKind
from orchestrator.core.clock import VirtualClock
from orchestrator.pacing import PacerConfig
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Account, IdentityConfig, RunningEmulator, World, run_emulator
from orchestrator.settings import Settings
from orchestrator.simulation.budget import VirtualCallBudget
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import events, identities
from orchestrator.submit import submit
from tests.pipeline_helpers import load, per_local_day, write_campaign
from workers.pacer import build_pacer

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def _level_one(domain: str, zone: str = "Asia/Shanghai") -> World:
    """An emulator world whose only domain is at reputation level 1 (500 a day)."""
    return World(
        accounts=[Account(name="default", secret_id="sid", secret_key="skey")],
        identities=[IdentityConfig(domain=domain, reputation_level=1)],
        permissive=True,
        timezone=zone,
    )


def _settings(redis_url: str, emu: RunningEmulator) -> Settings:
    return Settings(
        REDIS_URL=redis_url,
        TENCENTCLOUD_SECRET_ID=SecretStr("sid"),
        TENCENTCLOUD_SECRET_KEY=SecretStr("skey"),
        SES_ENDPOINT=emu.url,
    )


async def _run_level_one(
    redis_url: str, domain: str, clock: VirtualClock, until: float, zone: str = "Asia/Shanghai"
) -> list[float]:
    """Run the pipeline against an emulator whose only domain is at reputation level 1; send times."""
    async with run_emulator(_level_one(domain, zone), clock=clock) as emu:
        sender = TencentSender(_settings(redis_url, emu))
        try:
            async with VirtualRun(redis_url, clock, sender, PacerConfig()) as run:
                await run.run_until(until)
        finally:
            await sender.close()
        return [s.time for s in emu.send_log]


async def test_live_quota_below_plan_caps_the_day(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """A new domain at reputation level 1 (500 a day) sends 500 on day 1, not the plan's 1000."""
    path = write_campaign(tmp_path, 1500, identities=1)
    campaign, fp = load(path)
    await submit(redis, campaign, fp, START, str(path))
    times = await _run_level_one(
        redis_url, campaign.identities[0].domain, VirtualClock(START), START + 86400 - 1, "UTC"
    )
    days = per_local_day(times)
    assert days["2026-12-01"] == 500
    state = await identities.load(redis, campaign.identities[0].id)
    assert state is not None
    assert state.live_quota == 500
    assert state.quota == 500


async def test_quota_counts_tencent_days_not_the_campaigns(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """A Seoul campaign sending around the clock meets a 500/day quota on every China-time day, never refused."""
    path = write_campaign(tmp_path, 2000, identities=1, extra={"timezone": "Asia/Seoul"})
    campaign, fp = load(path)
    await submit(redis, campaign, fp, START, str(path))
    times = await _run_level_one(redis_url, campaign.identities[0].domain, VirtualClock(START), START + 3 * 86400)
    china_days = per_local_day(times, "Asia/Shanghai")
    stops = [e for e in await events.read(redis) if e.type == "identity_stopped_today"]
    assert stops == [], "Tencent never had to refuse a send for the quota"
    full_days = [
        d for d in sorted(china_days) if datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp() >= START + 86400
    ]
    assert full_days, china_days
    assert all(china_days[d] <= 500 for d in china_days)
    assert any(china_days[d] == 500 for d in full_days)


async def test_a_quota_read_the_budget_refuses_is_made_once_its_slot_frees(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Not called for want of an API slot (the simulation's budget cannot wait): read again at the first
    tick after the slot frees, not QUOTA_REFRESH_S later with the plan's caps left unchecked meanwhile."""
    path = write_campaign(tmp_path, 10, identities=1)
    campaign, fp = load(path)
    await submit(redis, campaign, fp, START, str(path))
    clock = VirtualClock(START)
    async with run_emulator(_level_one(campaign.identities[0].domain), clock=clock) as emu:
        budget = VirtualCallBudget(clock)
        async with TencentSender(_settings(redis_url, emu), budget=budget) as sender:
            for _ in range(2):  # the reserved share of this second is spent (a sweep's status lookups)
                assert await budget.acquire("default", CallKind.OTHER) is None
            pacer = build_pacer(redis, clock, PacerConfig(), sender=sender)
            await pacer.tick()
            assert [c.action for c in emu.call_log] == []
            clock.advance(1.1)
            await pacer.tick()
            assert [c.action for c in emu.call_log] == ["ListEmailIdentities"]
    state = await identities.load(redis, campaign.identities[0].id)
    assert state is not None
    assert state.live_quota == 500


async def test_days_held_down_by_the_quota_do_not_advance_the_warm_up(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """At Tencent's 500 a day, day 1 (plan 1,000) counts, day 2 (plan 1,500) does not: the warm-up waits on
    day 2 instead of climbing to caps the domain never sent, to jump there once its level rises."""
    path = write_campaign(tmp_path, 3000, identities=1)
    campaign, fp = load(path)
    await submit(redis, campaign, fp, START, str(path))
    times = await _run_level_one(
        redis_url, campaign.identities[0].domain, VirtualClock(START), START + 3 * 86400 + 60, "UTC"
    )
    assert [per_local_day(times)[d] for d in ("2026-12-01", "2026-12-02", "2026-12-03")] == [500, 500, 500]
    state = await identities.load(redis, campaign.identities[0].id)
    assert state is not None
    assert state.progress.warmup_day == 2
    steps = [(e.type, e.data.get("date")) for e in await events.read(redis) if e.type in ("day_advanced", "day_held")]
    assert steps == [("day_advanced", "2026-12-01"), ("day_held", "2026-12-02"), ("day_held", "2026-12-03")]
    held = next(e for e in await events.read(redis) if e.type == "day_held")
    assert held.data["daily_quota"] == "500"
    assert "Tencent's quota of 500 a day" in held.data["reason"]
