"""Grant times on a real Redis: kept to the last digit in the rolling hour and when read back for a refund."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.core.calendar import tencent_day
from orchestrator.core.plan import Caps
from orchestrator.store import keys
from orchestrator.store.ledger import Ledger
from orchestrator.store.limiter import Limiter, Limits
from orchestrator.submit import submit
from tests.fakes import one_identity_campaign
from tests.pipeline_helpers import load, write_campaign
from workers.jobs import SEND_JOBS

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


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
    ledger, ck, identity = await one_identity_campaign(redis, tmp_path, START)
    limits = Limits(identity_caps, pool_caps, 0.05, 20, 2.0, 0.0)
    t0 = START + 0.56788
    times = [t0, t0 + second_after, t0 + 3599.99998]
    granted = []
    for t in times:
        result = await Limiter(ledger.scripts, SEND_JOBS).grant(
            ck, identity, "default", t, 1, limits, "2026-12-01", 12, 3600.0
        )
        granted += [t for _ in result.grants]
    assert granted == times[:2]


async def test_grant_time_is_stored_exactly(redis: Redis, tmp_path: Path) -> None:
    """The grant time a worker reads back is the grant's `now`, not a 14-digit rounding of it.

    Rounded, a grant 30 us before China's midnight read back as midnight: its refund went to the
    next Tencent day's quota counter (-1 there, +1 left on the day it was really granted).
    """
    ledger, ck, identity = await one_identity_campaign(redis, tmp_path, START)
    limits = Limits(Caps(100, 100), Caps(100, 100), 0.05, 20, 2.0, 0.0)
    china_midnight = START + 4 * 3600
    now = china_midnight - 0.00003
    result = await Limiter(ledger.scripts, SEND_JOBS).grant(
        ck, identity, "default", now, 1, limits, "2026-12-01", 15, 32400.0, quota=10
    )
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
        grant_member=f"{ck.cid}:{g.idx}:{g.grant.rsplit(':', 1)[1]}",
        grant_local_date="2026-12-01",
        grant_time=claim.grant_time,
    )
    ik = keys.IdentityKeys(identity)
    day_of_grant, _ = tencent_day(now)
    next_day, _ = tencent_day(china_midnight)
    assert int(await redis.get(ik.quota_day(day_of_grant)) or 0) == 0
    assert int(await redis.get(ik.quota_day(next_day)) or 0) == 0


async def test_a_full_pool_hour_waits_for_its_oldest_grant_whichever_identity_made_it(
    redis: Redis, tmp_path: Path
) -> None:
    """Pool of 2 an hour filled through identity 0 at +0 and +40 s: at +100 s both identities wait until
    the first grant leaves the hour (3,500 s), not 1 s because identity 1 had no grant of its own."""
    path = write_campaign(tmp_path, 10, identities=2)
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START, str(path))).campaign_id
    ck, ids = keys.CampaignKeys(cid), [i.id for i in campaign.identities]
    limits = Limits(Caps(1000, 100), Caps(1000, 2), 0.05, 20, 2.0, 0.0)
    limiter = Limiter(Ledger(redis).scripts, SEND_JOBS)
    for k in range(2):
        got = await limiter.grant(
            ck, ids[0], "default", START + 40 * k, 1, limits, "2026-12-01", 12, 43200.0, peers=ids
        )
        assert len(got.grants) == 1
    for identity in ids:
        got = await limiter.grant(ck, identity, "default", START + 100, 5, limits, "2026-12-01", 12, 43200.0, peers=ids)
        assert (got.reason, got.grants) == ("pool_hour", [])
        assert got.wait_s == pytest.approx(3500.0)
