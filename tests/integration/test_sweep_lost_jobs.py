"""The sweeper puts a granted send's lost job back on arq's queue, once, in the job format workers run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from arq.constants import job_key_prefix
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core.clock import VirtualClock
from orchestrator.core.plan import Caps
from orchestrator.store import keys
from orchestrator.store.limiter import Limiter, Limits
from tests.fakes import one_identity_campaign
from tests.pipeline_harness import tencent_sender
from workers.jobs import QUEUE, SEND_FUNCTION, SEND_JOBS, send_job_id
from workers.pacer import build_pacer
from workers.sweep import Sweeper

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
LIMITS = Limits(Caps(100_000, 100_000), Caps(100_000, 100_000), 0.05, 20, 2.0, 0.0)


async def _granted(redis: Redis, tmp_path: Path, n: int, new: bool = False) -> tuple[str, list[tuple[int, str]]]:
    ledger, ck, identity = await one_identity_campaign(redis, tmp_path, START, n=n, new=new)
    result = await Limiter(ledger.scripts, SEND_JOBS).grant(
        ck, identity, "default", START, n, LIMITS, "2026-12-01", 12, 43200.0
    )
    return ck.cid, [(g.idx, g.grant) for g in result.grants]


async def test_sweep_reenqueues_a_granted_send_whose_job_was_lost(redis: Redis, tmp_path: Path) -> None:
    """Jobs gone from arq (a Redis that lost its last second): past the grant deadline they are queued again."""
    cid, grants = await _granted(redis, tmp_path, 3)
    job_ids = {send_job_id(cid, idx, grant) for idx, grant in grants}
    assert {str(m) for m in await redis.zrange(QUEUE, 0, -1)} == job_ids  # the grant wrote them
    await redis.delete(QUEUE, *(job_key_prefix + j for j in job_ids))

    clock = VirtualClock(START + 121)  # past the 120 s grant deadline
    stats = await Sweeper(build_pacer(redis, clock, wall=clock)).sweep()

    assert stats["regranted"] == 3
    assert {str(m) for m in await redis.zrange(QUEUE, 0, -1)} == job_ids
    for idx, grant in grants:
        job = json.loads(await redis.get(job_key_prefix + send_job_id(cid, idx, grant)))
        assert (job["f"], job["a"]) == (SEND_FUNCTION, [cid, idx, grant])


async def test_sweep_never_queues_a_job_twice(redis: Redis, tmp_path: Path) -> None:
    """A grant whose job is still queued, running or finished is left alone: no second job for one grant."""
    cid, grants = await _granted(redis, tmp_path, 3)
    (idx0, g0), (idx1, g1), (idx2, g2) = grants
    await redis.set("arq:in-progress:" + send_job_id(cid, idx1, g1), "1")
    await redis.zrem(QUEUE, send_job_id(cid, idx1, g1))
    await redis.delete(job_key_prefix + send_job_id(cid, idx2, g2))
    await redis.zrem(QUEUE, send_job_id(cid, idx2, g2))

    clock = VirtualClock(START + 121)
    stats = await Sweeper(build_pacer(redis, clock, wall=clock)).sweep()

    assert stats["regranted"] == 1  # only the job that was really gone
    queued = {str(m) for m in await redis.zrange(QUEUE, 0, -1)}
    assert queued == {send_job_id(cid, idx0, g0), send_job_id(cid, idx2, g2)}


async def test_sweep_leaves_a_corrupt_doubt_for_later_and_goes_on(redis: Redis, tmp_path: Path) -> None:
    """A send in doubt whose stored state is corrupt is asked about again later; the sweep itself never fails."""
    cid, grants = await _granted(redis, tmp_path, 2)
    ck = keys.CampaignKeys(cid)
    (bad, _), (good, good_grant) = grants
    await redis.hset(ck.state(bad), str(bad), "d|tok|not-a-time|1|x:1|also-not")  # type: ignore[misc]
    await redis.zadd(ck.doubt, {str(bad): START})
    clock = VirtualClock(START + 10)
    async with tencent_sender(clock) as (sender, emu):
        pacer = build_pacer(redis, clock, sender=sender, wall=clock)
        await Sweeper(pacer).sweep()
    assert not [c for c in emu.call_log if c.action == "GetSendEmailStatus"]  # nothing asked about now
    assert await redis.zscore(ck.doubt, str(bad)) == START + 10 + pacer.config.reconcile_retry_s
    assert await redis.hget(ck.state(bad), str(bad)) == "d|tok|not-a-time|1|x:1|also-not"  # type: ignore[misc]
    assert (await redis.hget(ck.state(good), str(good))).startswith(f"g|{good_grant}|")  # type: ignore[misc]


async def test_one_campaign_with_unreadable_keys_does_not_stop_the_others(redis: Redis, tmp_path: Path) -> None:
    """A campaign whose lease or doubt set holds another type is skipped with a warning; the sweep still
    re-enqueues the lost jobs of every other campaign, whichever comes first in the list."""
    cid, grants = await _granted(redis, tmp_path, 2)
    job_ids = {send_job_id(cid, idx, grant) for idx, grant in grants}
    await redis.delete(QUEUE, *(job_key_prefix + j for j in job_ids))
    for ghost in ("0-first", "zz-last"):  # sorted before and after the real campaign
        await redis.zadd(keys.CAMPAIGNS, {ghost: 0 if ghost.startswith("0") else 9e12})
    await redis.set(keys.CampaignKeys("0-first").inflight, "not a sorted set")
    await redis.set(keys.CampaignKeys("zz-last").doubt, "not a sorted set")

    clock = VirtualClock(START + 121)
    async with tencent_sender(clock) as (sender, _emu):
        stats = await Sweeper(build_pacer(redis, clock, sender=sender, wall=clock)).sweep()

    assert stats["regranted"] == 2
    assert {str(m) for m in await redis.zrange(QUEUE, 0, -1)} == job_ids


async def test_a_campaign_whose_overdue_lease_cannot_be_read_does_not_stop_the_others(
    redis: Redis, tmp_path: Path
) -> None:
    """The first campaign's ledger bucket holds another type under an overdue lease: expiring it fails,
    that campaign is skipped with a warning, and the next campaign's lost jobs are still put back."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    granted = dict([await _granted(redis, tmp_path / "a", 2), await _granted(redis, tmp_path / "b", 2, new=True)])
    first, second = [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]  # the order the sweep takes
    grants = granted[second]
    damaged = keys.CampaignKeys(first).state(granted[first][0][0])
    await redis.delete(damaged)
    await redis.set(damaged, "not a hash")
    job_ids = {send_job_id(second, idx, grant) for idx, grant in grants}
    await redis.delete(QUEUE, *(job_key_prefix + j for j in job_ids))

    clock = VirtualClock(START + 121)
    with structlog.testing.capture_logs() as logs:
        stats = await Sweeper(build_pacer(redis, clock, wall=clock)).sweep()

    assert stats["regranted"] == 2
    assert {str(m) for m in await redis.zrange(QUEUE, 0, -1)} >= job_ids
    assert [e["campaign"] for e in logs if e["event"] == "sweep_campaign_skipped"] == [first]


async def test_a_doubt_parked_anew_during_the_sweep_waits_for_its_time(redis: Redis, tmp_path: Path) -> None:
    """While an earlier campaign's doubts are settled, a later campaign's doubt is parked again, due
    later: the sweep must not look it up now (a lookup too early may read "not sent" and send twice)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    c1, g1 = await _granted(redis, tmp_path / "a", 2)
    c2, g2 = await _granted(redis, tmp_path / "b", 3, new=True)  # the same addresses: a second send
    first, second = [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]
    grants = {c1: g1, c2: g2}
    for cid in (first, second):
        idx = grants[cid][0][0]
        await redis.hset(keys.CampaignKeys(cid).state(idx), str(idx), "d|tok|not-a-time|1|x:1|also-not")  # type: ignore[misc]
        await redis.zadd(keys.CampaignKeys(cid).doubt, {str(idx): START})
    clock = VirtualClock(START + 10)
    later, later_idx = keys.CampaignKeys(second), grants[second][0][0]
    async with tencent_sender(clock) as (sender, emu):
        pacer = build_pacer(redis, clock, sender=sender, wall=clock)
        load = pacer.load_campaign

        async def parking_the_later_doubt_anew(cid: str) -> Any:
            if cid == first:
                await redis.zadd(later.doubt, {str(later_idx): START + 1000})
            return await load(cid)

        pacer.load_campaign = parking_the_later_doubt_anew  # type: ignore[method-assign]
        await Sweeper(pacer).sweep()
    assert await redis.zscore(later.doubt, str(later_idx)) == START + 1000
    assert not [c for c in emu.call_log if c.action == "GetSendEmailStatus"]


@pytest.mark.parametrize("key", [keys.FB_PENDING, keys.FB_EARLY])
async def test_a_broken_feedback_key_never_stops_the_campaigns_sweep(redis: Redis, tmp_path: Path, key: str) -> None:
    """The follow-up's or the early events' set holding another type: lost jobs are still put back
    (with the follow-up off, its set is not even read)."""
    cid, grants = await _granted(redis, tmp_path, 2)
    job_ids = {send_job_id(cid, idx, grant) for idx, grant in grants}
    await redis.delete(QUEUE, *(job_key_prefix + j for j in job_ids))
    await redis.set(key, "not a sorted set")
    clock = VirtualClock(START + 121)
    sweeper = Sweeper(build_pacer(redis, clock, wall=clock))  # no sender: the follow-up is off
    if key == keys.FB_EARLY:
        with pytest.raises(ResponseError):  # the shared early set fails the sweep, after the campaigns
            await sweeper.sweep()
    else:
        assert (await sweeper.sweep())["regranted"] == 2
    assert {str(m) for m in await redis.zrange(QUEUE, 0, -1)} == job_ids
