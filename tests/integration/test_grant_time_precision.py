"""Regression tests for ledger and pacer corner cases found in review, on a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.core.calendar import tencent_day
from orchestrator.core.clock import VirtualClock
from orchestrator.core.plan import Caps
from orchestrator.pacer import Pacer
from orchestrator.store import campaigns, keys
from orchestrator.store.campaigns import State
from orchestrator.store.ledger import Ledger, Limits
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


async def _campaign(redis: Redis, tmp_path: Path, n: int = 5) -> tuple[Ledger, keys.CampaignKeys, str]:
    path = write_campaign(tmp_path, n, identities=1)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START, str(path))).campaign_id
    return Ledger(redis), keys.CampaignKeys(cid), campaign.identities[0].id


@pytest.mark.parametrize(
    ("identity_caps", "pool_caps", "second_after"),
    [
        pytest.param(Caps(100, 2), Caps(100, 100), 1798.0, id="identity-hour"),
        pytest.param(Caps(100, 100), Caps(100, 2), 36.0, id="pool-hour"),
    ],
)
async def test_rolling_hour_keeps_a_grant_just_under_3600_s_old(
    redis: Redis, tmp_path: Path, identity_caps: Caps, pool_caps: Caps, second_after: float
) -> None:
    """A grant 3599.99998 s old is still inside the rolling hour, whatever the digits of `now`.

    The trim bound used to be built by Lua string concatenation, which keeps 14 significant digits:
    (now - 3600) rounded up past the oldest grant and dropped it from the window early.
    """
    ledger, ck, identity = await _campaign(redis, tmp_path)
    limits = Limits(identity_caps, pool_caps, 0.05, 20, 2.0, 0.0)
    t0 = START + 0.56788
    times = [t0, t0 + second_after, t0 + 3599.99998]
    granted = []
    for t in times:
        result = await ledger.grant(ck, identity, "default", t, 1, limits, "2026-12-01", 12, 3600.0)
        granted += [t for _ in result.grants]
    assert granted == times[:2]


async def test_grant_time_is_stored_exactly(redis: Redis, tmp_path: Path) -> None:
    """The grant time a worker reads back is the grant's `now`, not a 14-digit rounding of it.

    Rounded, a grant 30 us before China's midnight read back as midnight: its refund went to the
    next Tencent day's quota counter (-1 there, +1 left on the day it was really granted).
    """
    ledger, ck, identity = await _campaign(redis, tmp_path)
    limits = Limits(Caps(100, 100), Caps(100, 100), 0.05, 20, 2.0, 0.0)
    china_midnight = START + 4 * 3600
    now = china_midnight - 0.00003
    result = await ledger.grant(ck, identity, "default", now, 1, limits, "2026-12-01", 15, 32400.0, quota=10)
    (g,) = result.grants
    claim = await ledger.claim(ck, g.idx, g.grant, "tok", now + 1, 90.0)
    assert claim is not None
    assert claim.grant_time == now
    assert await ledger.finish(
        ck,
        identity,
        g.idx,
        "tok",
        now + 2,
        "retry",
        ready_at=now + 60,
        refund=True,
        grant_member=g.member(ck.cid),
        grant_local_date="2026-12-01",
        grant_time=claim.grant_time,
    )
    ik = keys.IdentityKeys(identity)
    day_of_grant, _ = tencent_day(now)
    next_day, _ = tencent_day(china_midnight)
    assert int(await redis.get(ik.quota_day(day_of_grant)) or 0) == 0
    assert int(await redis.get(ik.quota_day(next_day)) or 0) == 0


async def test_a_late_finish_of_an_expired_lease_does_not_let_the_campaign_complete(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pacer completes a campaign only on counts and doubts read together.

    A worker outlives its lease: the sweeper parks the send in doubt. The worker then gets its
    answer (a retryable error: not sent) and puts the recipient back in the queue just after the
    tick read the campaign's counts. The tick used to combine those stale counts (nothing queued)
    with the now empty doubt set and mark the campaign completed: the recipient was never sent.
    """
    ledger, ck, identity = await _campaign(redis, tmp_path, n=1)
    limits = Limits(Caps(100, 100), Caps(100, 100), 0.05, 20, 2.0, 0.0)
    (g,) = (await ledger.grant(ck, identity, "default", START, 1, limits, "2026-12-01", 12, 43200.0)).grants
    claim = await ledger.claim(ck, g.idx, g.grant, "tok", START + 1, 90.0)
    assert claim is not None
    assert await ledger.expire(ck, g.idx, START + 100, 120.0, START + 160) == ["parked"]

    real_get = campaigns.get
    finished: list[bool] = []

    async def get_then_worker_finishes(r: Redis, cid: str) -> campaigns.CampaignRecord | None:
        rec = await real_get(r, cid)
        if not finished:
            finished.append(
                await ledger.finish(
                    ck,
                    identity,
                    g.idx,
                    "tok",
                    START + 101,
                    "retry",
                    ready_at=START + 130,
                    refund=True,
                    grant_member=g.member(ck.cid),
                    grant_local_date="2026-12-01",
                    grant_time=claim.grant_time,
                )
            )
        return rec

    monkeypatch.setattr(campaigns, "get", get_then_worker_finishes)
    report = await Pacer(redis, VirtualClock(START + 102)).tick()
    assert finished == [True]
    assert report.completed == []
    assert (await real_get(redis, ck.cid)).state is State.RUNNING  # type: ignore[union-attr]
    assert (await ledger.counts(ck))["queued"] == 1
