"""The pipeline's promises on a real redis-server and a virtual clock: restarts, ceilings, shares, pauses, days.

Every send goes through the official SDK (TencentSender) over HTTP to the SES emulator on the same
virtual clock, and what is checked is read from the emulator's own send log.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.budget import budget_now
from orchestrator.core.campaign_state import Transition
from orchestrator.core.clock import VirtualClock
from orchestrator.core.sending import (
    LookupResult,
    SendOutcome,
    SendRequest,
    StatusQuery,
)
from orchestrator.pacing import TickReport
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Account, IdentityConfig, Latency, TemplateConfig, World, run_emulator
from orchestrator.settings import Settings
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import campaigns, events, identities, keys
from orchestrator.store.campaigns import State
from tests.fakes import submit_file
from tests.pipeline_harness import CAMPAIGN_DOMAINS, send_times, tencent_run
from tests.pipeline_helpers import DOMAINS, max_in_rolling_window, per_local_day, write_campaign
from tests.redis_server import RedisServer

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
DAY = 86400.0
HOUR = 3600.0


async def counts(redis: Redis, cid: str) -> dict[str, int]:
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    return {s: n for s, n in rec.counts.items() if n}


def csv_of(addresses: list[str]) -> str:
    return "email,first_name\n" + "".join(f"{a},N{i}\n" for i, a in enumerate(addresses))


# --- (b) the pool ceiling ----------------------------------------------------------------------


async def test_pool_ceiling_shares_the_day_fairly(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """3 identities, multiplier 1.5, day 1: 500 a day each, never above 1,500 a day or 300 in a rolling hour."""
    extra: dict[str, object] = {"pool": {"multiplier": 1.5}, "shaping": {"max_domain_share": 1.0}}
    path = write_campaign(tmp_path, 2000, identities=3, extra=extra)
    cid = await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock, workers=2) as (run, emu):
        await run.run_until(START + DAY)
    day_one = per_local_day(send_times(emu.send_log))
    by_identity = {d: per_local_day(send_times(emu.send_log, sender=d)) for d in CAMPAIGN_DOMAINS}
    assert day_one == {"2026-12-01": 1500}
    assert [d["2026-12-01"] for d in by_identity.values()] == [500, 500, 500]
    assert max_in_rolling_window(send_times(emu.send_log)) <= 300
    for domain in CAMPAIGN_DOMAINS:
        # Each identity's hourly share of the pool's 300 is 100 (its own plan would allow 200).
        assert max_in_rolling_window(send_times(emu.send_log, sender=domain)) == 100
    assert await counts(redis, cid) == {"accepted": 1500, "queued": 500}


# --- (c) the recipient-domain share ------------------------------------------------------------


async def test_domain_share_holds_back_a_dominant_domain_until_it_is_alone(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """80 % gmail, share 0.3 of 100/h: gmail <= 30 an hour while others wait, then 100/h once alone."""
    others = ["naver.com", "daum.net", "outlook.com", "nate.com"]
    addresses = [f"g{i}@gmail.com" for i in range(800)] + [f"o{i}@{others[i % 4]}" for i in range(200)]
    extra = {"plan": {"rows": [{"days": "1-3", "daily": 5000, "hourly": 100}]}, "shaping": {"max_domain_share": 0.3}}
    path = write_campaign(tmp_path, 0, identities=1, extra=extra, csv_text=csv_of(addresses))
    await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock) as (run, emu):
        await run.run_until(START + 6 * HOUR)
    gmail = send_times(emu.send_log, to_domain="gmail.com")
    rest = sorted(r.time for r in emu.send_log if not r.to_address.endswith("@gmail.com"))
    assert len(rest) == 200
    alone_from = rest[-1]
    # While other domains wait, gmail's share is 0.3 x 100 = 30 an hour, with no tolerance needed: its
    # 120 s spacing falls on the identity's 36 s slots, so it gets one every 144 s (25 an hour) and
    # the spacing's 2 s catch-up never reaches back a whole slot. Held back, not starved.
    mixed = [t for t in gmail if t <= alone_from]
    hours_mixed = (alone_from - START) / HOUR
    assert hours_mixed > 2
    assert max_in_rolling_window(mixed) <= 30
    assert len(mixed) >= 24 * hours_mixed
    # Alone, gmail gets the identity's whole hour.
    full_hour = [t for t in gmail if alone_from + 60 <= t < alone_from + 60 + HOUR]
    assert len(full_hour) >= 98
    assert max_in_rolling_window(send_times(emu.send_log)) <= 100


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
    cid = await submit_file(redis, path, START)
    clock = VirtualClock(START)
    world = World(
        accounts=[Account(name="default", secret_id="AKIDrestart", secret_key="restart-key")],
        identities=[IdentityConfig(domain=f"d{k}.example.com", reputation_level=20) for k in range(2)],
        templates=[TemplateConfig(id=1, html="<p>{{name}}</p>")],
        account_rate_per_s=None,
        latency=Latency(min_ms=1, max_ms=5),  # the other worker's send is in flight too
    )
    old_run_id = (await redis.info("server"))["run_id"]
    # Every acknowledged write in the file before the kill: with `everysec`, a disk slow to fsync lets Redis
    # hold up to 2 s of acknowledged writes in its own buffer, which a SIGKILL loses (docs/operations.md,
    # "What a crash can cost"). The restart starts it on its command line's `everysec` again.
    await redis.config_set("appendfsync", "always")
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
    assert await redis.hlen(keys.MESSAGE_IDS) == n  # type: ignore[misc]


# --- (d) pause and resume in virtual time -------------------------------------------------------


async def test_pause_stops_grants_at_once_and_resume_after_idle_days_steps_back(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """Pause releases a granted send unsent and grants nothing more; 5 idle days later resume sends at day 4, once each.

    Plan x 0.1 from warm-up day 5: Dec 1 sends 450 (day 5's cap) and advances to day 6 (600/50);
    Dec 2 sends about 100 (under half of 600, so it holds) and is paused at 02:00; Dec 3-7 are idle;
    on Dec 8, 5 idle days after Dec 2 step the identity back 5 - 3 = 2 days, to day 4 (300/40).
    """
    n = 800
    extra: dict[str, object] = {"identities": [{"id": "t-id0", "from": "News <news@d0.example.com>", "warmup_day": 5}]}
    extra |= {"plan": {"scale": 0.1}, "shaping": {"max_domain_share": 1.0}}
    path = write_campaign(tmp_path, n, identities=1, extra=extra)
    cid = await submit_file(redis, path, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock) as (run, emu):
        await run.run_until(START + DAY + 2 * HOUR)
        # A grant is on the queue when the operator pauses: its job finds the campaign paused.
        while (report := await run.pacer.tick()).granted == 0:
            clock.set(clock.now() + max(report.wait_s, 0.001))
        sent_before_pause = len(emu.send_log)
        paused_at = clock.now()
        assert (await campaigns.transition(redis, cid, Transition.PAUSE, paused_at, reason="test"))[0] == "ok"
        await run.drain()
        assert len(emu.send_log) == sent_before_pause
        assert await counts(redis, cid) == {"accepted": sent_before_pause, "queued": n - sent_before_pause}
        assert (await run.step()).granted == 0

        resume_at = START + 7 * DAY  # Dec 8, 00:00
        clock.set(resume_at)
        assert (await run.step()).granted == 0  # still paused: nothing moves, however long
        assert (await campaigns.transition(redis, cid, Transition.RESUME, resume_at))[0] == "ok"
        spec = (await campaigns.get(redis, cid)).spec  # type: ignore[union-attr]
        await run.run_until(START + 8 * DAY)

    days = per_local_day(send_times(emu.send_log))
    assert days["2026-12-01"] == 450
    assert 90 <= days["2026-12-02"] < 300
    assert not [t for t in send_times(emu.send_log) if paused_at <= t < resume_at]
    on_resume = send_times(emu.send_log, since=resume_at)
    assert len(on_resume) == n - 450 - days["2026-12-02"]
    assert max_in_rolling_window(on_resume) == 40  # day 4's hourly cap, not day 6's 50
    state = await identities.load(redis, "t-id0")
    assert state is not None
    assert budget_now(spec, {"t-id0": state}, resume_at)[1] == [4]
    closed = [e for e in await events.read(redis, count=100_000) if e.type in ("day_advanced", "day_held")]
    assert [(e.type, e.data["date"], e.data["warmup_day"]) for e in closed] == [
        ("day_advanced", "2026-12-01", "6"),
        ("day_held", "2026-12-02", "6"),
    ]
    # Nobody was sent twice, nobody was skipped.
    assert Counter(r.to_address for r in emu.send_log) == Counter({f"user{i}@{a}": 1 for i, a in _addresses(n)})
    assert await counts(redis, cid) == {"accepted": n}


def _addresses(n: int) -> list[tuple[int, str]]:
    return [(i, DOMAINS[i % len(DOMAINS)]) for i in range(n)]


# --- (e) the day advance -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "next_day"),
    [
        pytest.param(49, 1, id="under-half-holds"),
        pytest.param(50, 2, id="exactly-half-advances"),
        pytest.param(100, 2, id="full-day-advances"),
    ],
)
async def test_day_counts_only_when_half_the_cap_was_sent(
    redis: Redis, redis_url: str, tmp_path: Path, n: int, next_day: int
) -> None:
    """A day of 100 with a list of `n`: the next campaign on the identity sends at day 2 only if n >= 50."""
    plan = {
        "plan": {
            "rows": [
                {"days": "1", "daily": 100, "hourly": 50},
                {"days": "2", "daily": 200, "hourly": 100},
                {"days": "3", "daily": 300, "hourly": 150},
            ]
        },
        "shaping": {"max_domain_share": 1.0},
    }
    identity = {"identities": [{"id": "shared", "from": "News <news@d0.example.com>"}]}
    first = write_campaign(tmp_path, n, name="first", extra=plan | identity)
    await submit_file(redis, first, START)
    clock = VirtualClock(START)
    async with tencent_run(redis_url, clock) as (run, emu):
        await run.run_until(START + DAY)
        # The list is done on Dec 1 (the run stops once nothing waits); a second campaign on the same
        # identity starts on Dec 2.
        clock.set(START + DAY)
        second = write_campaign(tmp_path, 1000, name="second", extra=plan | identity)
        await submit_file(redis, second, clock.now())
        await run.run_until(START + 2 * DAY)
    days = per_local_day(send_times(emu.send_log))
    caps = {1: (100, 50), 2: (200, 100)}[next_day]
    assert days["2026-12-01"] == n
    assert days["2026-12-02"] == caps[0]
    assert max_in_rolling_window(send_times(emu.send_log, since=START + DAY)) == caps[1]
    [closed] = [e for e in await events.read(redis, count=100_000) if e.type in ("day_advanced", "day_held")]
    expected = "day_advanced" if next_day == 2 else "day_held"
    assert (closed.type, closed.data["date"], closed.data["sent"], closed.data["warmup_day"]) == (
        expected,
        "2026-12-01",
        str(n),
        str(next_day),
    )
