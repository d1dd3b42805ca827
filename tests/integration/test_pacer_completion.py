"""When the pacer marks a campaign completed, on a real Redis: only on counts and doubts read together."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.core.plan import Caps
from orchestrator.store import campaigns
from orchestrator.store.campaigns import State
from orchestrator.store.limiter import Limiter, Limits
from tests.fakes import one_identity_campaign
from workers.jobs import SEND_JOBS
from workers.pacer import build_pacer

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


async def test_a_late_finish_of_an_expired_lease_does_not_let_the_campaign_complete(
    redis: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pacer completes a campaign only on counts and doubts read together.

    A worker outlives its lease: the sweeper parks the send in doubt. The worker then gets its
    answer (a retryable error: not sent) and puts the recipient back in the queue just after the
    tick read the campaign's counts. The tick used to combine those stale counts (nothing queued)
    with the now empty doubt set and mark the campaign completed: the recipient was never sent.
    """
    ledger, ck, identity = await one_identity_campaign(redis, tmp_path, START, n=1)
    limits = Limits(Caps(100, 100), Caps(100, 100), 0.05, 20, 2.0, 0.0)
    (g,) = (
        await Limiter(ledger.scripts, SEND_JOBS).grant(
            ck, identity, "default", START, 1, limits, "2026-12-01", 12, 43200.0
        )
    ).grants
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
                    grant_member=f"{ck.cid}:{g.idx}:{g.grant.rsplit(':', 1)[1]}",
                    grant_local_date="2026-12-01",
                    grant_time=claim.grant_time,
                )
            )
        return rec

    monkeypatch.setattr(campaigns, "get", get_then_worker_finishes)
    report = await build_pacer(redis, VirtualClock(START + 102)).tick()
    assert finished == [True]
    assert report.completed == []
    assert (await real_get(redis, ck.cid)).state is State.RUNNING  # type: ignore[union-attr]
    assert (await ledger.counts(ck))["queued"] == 1
