"""The pipeline's promises on a real redis-server and a virtual clock: restarts, ceilings, shares, pauses, days."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.core.sending import (
    LookupResult,
    LookupVerdict,
    OutcomeKind,
    SendOutcome,
    SendRequest,
    StatusQuery,
)
from orchestrator.drive import VirtualRun
from orchestrator.pacer import TickReport
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Account, IdentityConfig, Latency, TemplateConfig, World, run_emulator
from orchestrator.settings import Settings
from orchestrator.store import campaigns, keys
from orchestrator.store.campaigns import State
from orchestrator.submit import submit
from tests.pipeline_helpers import load, max_in_rolling_window, per_local_day, write_campaign
from tests.redis_server import RedisServer

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
DAY = 86400.0
HOUR = 3600.0


@dataclass
class ClockedSender:
    """An in-process provider: accepts every mail, records its virtual time, and answers lookups truthfully."""

    clock: VirtualClock
    sent: list[tuple[float, SendRequest]] = field(default_factory=list)

    async def send(self, request: SendRequest) -> SendOutcome:
        self.sent.append((self.clock.now(), request))
        return SendOutcome(OutcomeKind.ACCEPTED, message_id=f"m{len(self.sent)}")

    async def lookup(self, query: StatusQuery) -> LookupResult:
        for i, (_, r) in enumerate(self.sent, start=1):
            if (r.to_address, r.from_address) == (query.to_address, query.from_address):
                return LookupResult(LookupVerdict.SENT, message_id=f"m{i}")
        return LookupResult(LookupVerdict.NOT_SENT)

    async def close(self) -> None:
        return None

    def times(self, *, to_domain: str | None = None, sender: str | None = None) -> list[float]:
        return [
            t
            for t, r in self.sent
            if (to_domain is None or r.to_address.endswith("@" + to_domain))
            and (sender is None or sender in r.from_address)
        ]


async def submit_file(redis: Redis, path: Path, now: float = START) -> str:
    campaign, fp = load(path)
    return (await submit(redis, campaign, fp, now, str(path))).campaign_id


async def counts(redis: Redis, cid: str) -> dict[str, int]:
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    return {s: n for s, n in rec.counts.items() if n}


def csv_of(addresses: list[str]) -> str:
    return "email,first_name\n" + "".join(f"{a},N{i}\n" for i, a in enumerate(addresses))


# --- (b) the pool ceiling ----------------------------------------------------------------------


async def test_pool_ceiling_shares_the_day_fairly(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """3 identities, multiplier 1.5, day 1: 500 a day each, never above 1,500 a day or 300 in a rolling hour."""
    extra = {"pool": {"multiplier": 1.5}, "shaping": {"max_domain_share": 1.0}}
    path = write_campaign(tmp_path, 2000, identities=3, extra=extra)
    cid = await submit_file(redis, path)
    clock = VirtualClock(START)
    sender = ClockedSender(clock)
    async with VirtualRun(redis_url, clock, sender, workers=2) as run:
        await run.run_until(START + DAY)
    day_one = per_local_day(t for t, _ in sender.sent)
    by_identity = {k: per_local_day(sender.times(sender=f"d{k}.example.com")) for k in range(3)}
    assert day_one == {"2026-12-01": 1500}
    assert [d["2026-12-01"] for d in by_identity.values()] == [500, 500, 500]
    assert max_in_rolling_window(t for t, _ in sender.sent) <= 300
    for k in range(3):
        # Each identity's hourly share of the pool's 300 is 100 (its own plan would allow 200).
        assert max_in_rolling_window(sender.times(sender=f"d{k}.example.com")) == 100
    assert await counts(redis, cid) == {"accepted": 1500, "queued": 500}


# --- (c) the recipient-domain share ------------------------------------------------------------


async def test_domain_share_holds_back_a_dominant_domain_until_it_is_alone(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """80 % gmail, share 0.3 of 100/h: gmail <= 30 (+1) an hour while others wait, then 100/h once alone."""
    others = ["naver.com", "daum.net", "outlook.com", "nate.com"]
    addresses = [f"g{i}@gmail.com" for i in range(800)] + [f"o{i}@{others[i % 4]}" for i in range(200)]
    extra = {"plan": {"rows": [{"days": "1-3", "daily": 5000, "hourly": 100}]}, "shaping": {"max_domain_share": 0.3}}
    path = write_campaign(tmp_path, 0, identities=1, extra=extra, csv_text=csv_of(addresses))
    await submit_file(redis, path)
    clock = VirtualClock(START)
    sender = ClockedSender(clock)
    async with VirtualRun(redis_url, clock, sender) as run:
        await run.run_until(START + 6 * HOUR)
    gmail = sender.times(to_domain="gmail.com")
    rest = sorted(t for t, r in sender.sent if not r.to_address.endswith("@gmail.com"))
    assert len(rest) == 200
    alone_from = rest[-1]
    # Every rolling hour that starts while other domains still wait: the 2 s catch-up of the domain's
    # spacing (as for the identity's own) may let one more through at a window's edge.
    mixed = [t for t in gmail if t <= alone_from]
    hours_mixed = (alone_from - START) / HOUR
    assert hours_mixed > 2
    assert max_in_rolling_window(mixed) <= 30 + 1
    # Held back, not starved: the 120 s domain spacing falls on the identity's 36 s slots (every 144 s).
    assert len(mixed) >= 24 * hours_mixed
    # Alone, gmail gets the identity's whole hour.
    full_hour = [t for t in gmail if alone_from + 60 <= t < alone_from + 60 + HOUR]
    assert len(full_hour) >= 98
    assert max_in_rolling_window(sender.times()) <= 100


# --- (a) a Redis restart in the middle of a run ------------------------------------------------


@dataclass
class RestartAfterAccept:
    """The real TencentSender, except that its `at`-th send restarts redis-server once Tencent took the mail."""

    inner: TencentSender
    at: int
    restart: Callable[[], None]
    calls: int = 0

    async def send(self, request: SendRequest) -> SendOutcome:
        outcome = await self.inner.send(request)
        self.calls += 1
        if self.calls == self.at:
            # The worker has not recorded the outcome yet; other jobs keep running meanwhile.
            await asyncio.to_thread(self.restart)
        return outcome

    async def lookup(self, query: StatusQuery) -> LookupResult:
        return await self.inner.lookup(query)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.parametrize(
    "when",
    [
        pytest.param("between-steps", id="between-steps"),
        pytest.param("after-accept", id="after-accept-before-record"),
    ],
)
async def test_redis_restart_mid_run_loses_nothing_and_sends_nothing_twice(
    redis: Redis, redis_server: RedisServer, tmp_path: Path, when: str
) -> None:
    """redis-server is SIGKILLed and restarted on its AOF mid-run: every recipient ends once, sent once.

    The run's clients are not recreated: the orchestrator's and arq's Redis clients retry on connection
    errors, and the Lua scripts are loaded again (EVALSHA falls back to EVAL) on the fresh server.
    """
    extra = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 3600}]}, "shaping": {"max_domain_share": 1.0}}
    n = 400
    path = write_campaign(tmp_path, n, identities=2, extra=extra)
    cid = await submit_file(redis, path)
    clock = VirtualClock(START)
    world = World(
        accounts=[Account(name="default", secret_id="AKIDrestart", secret_key="restart-key")],
        identities=[IdentityConfig(domain=f"d{k}.example.com", reputation_level=20) for k in range(2)],
        templates=[TemplateConfig(id=1, html="<p>{{name}}</p>")],
        account_rate_per_s=None,
        latency=Latency(min_ms=1, max_ms=5),  # the other worker's send is in flight too
    )
    old_run_id = (await redis.info("server"))["run_id"]
    seen: dict[str, int] = {}

    async with run_emulator(world, clock=clock) as emu:

        def restart() -> None:
            seen["before"] = len(emu.send_log)
            redis_server.restart()

        async def between_steps(report: TickReport) -> None:
            del report
            if when == "between-steps" and not seen and clock.now() >= START + 60:
                restart()

        settings = Settings(
            _env_file=None,
            SES_ENDPOINT=emu.url,
            TENCENTCLOUD_SECRET_ID=SecretStr("AKIDrestart"),
            TENCENTCLOUD_SECRET_KEY=SecretStr("restart-key"),
        )
        async with TencentSender(settings) as tencent:
            sender = RestartAfterAccept(tencent, at=120 if when == "after-accept" else 0, restart=restart)
            async with VirtualRun(redis_server.url, clock, sender, workers=2) as run:
                await run.run_until(START + 6 * HOUR, on_step=between_steps)
        sent = Counter(r.to_address for r in emu.send_log)
    assert (await redis.info("server"))["run_id"] != old_run_id  # a new server process, on the old AOF
    assert 0 < seen["before"] < n  # the server died mid-run ...
    assert len(sent) == n  # ... and the run finished every recipient,
    assert set(sent.values()) == {1}  # each exactly once
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    assert (rec.state, await counts(redis, cid)) == (State.COMPLETED, {"accepted": n})
    assert await redis.hlen(keys.MESSAGE_IDS) == n
