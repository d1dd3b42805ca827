"""The grant's key layout: an older Redis keeps working after the upgrade; a grant peeks again when it must."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.core.plan import Caps
from orchestrator.pacing import Pacer
from orchestrator.store import keys
from orchestrator.store.grant_peek import script_group
from orchestrator.store.limiter import WINDOW_EXTRA, Limiter, Limits
from orchestrator.store.scripts import Scripts
from orchestrator.submit import submit
from tests.fakes import one_identity_campaign
from tests.pipeline_helpers import load, write_campaign
from workers.jobs import SEND_JOBS

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
LIMITS = Limits(Caps(100_000, 100_000), Caps(100_000, 100_000), 0.0001, 10_000, 3600.0, 0.0)


async def _grant(limiter: Limiter, ck: keys.CampaignKeys, identity: str, now: float, want: int) -> list[int]:
    result = await limiter.grant(ck, identity, "default", now, want, LIMITS, "2026-12-01", 12, 3600.0)
    return [g.idx for g in result.grants]


async def test_older_layout_is_folded_at_pacer_start_and_still_holds(redis: Redis, tmp_path: Path) -> None:
    """A block and a domain share written in the older per-group keys are moved and still hold back mail."""
    path = write_campaign(tmp_path, 0, identities=1, csv_text="email,first_name\na@gmail.com,A\nb@naver.com,B\n")
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START, str(path))).campaign_id
    ck, identity = keys.CampaignKeys(cid), campaign.identities[0].id
    ik = keys.IdentityKeys(identity)
    await redis.set(f"{ck.old_block_prefix}google", repr(START + 600), px=86_400_000)
    await redis.hset(f"{ik.old_domain_prefix}naver", "tat", repr(START + 300))
    await redis.expire(f"{ik.old_domain_prefix}naver", 7200)

    pacer = Pacer(redis, VirtualClock(START), jobs=SEND_JOBS)
    await pacer.tick()

    assert await redis.exists(f"{ck.old_block_prefix}google", f"{ik.old_domain_prefix}naver") == 0
    assert await redis.zscore(ck.blocks, "google") == START + 600
    # gmail is blocked for 10 minutes (parked in `later`, still waiting); naver is held by its share
    # until the older key's time, as gmail's recipient waits: nothing goes now.
    assert await redis.zscore(ck.later, str(await _index_of(redis, ck, "a@gmail.com"))) == START + 600
    assert await redis.zcard(ik.hour) == 0
    assert await redis.zscore(ik.domains, "naver") == START + 300
    assert await redis.zscore(ck.held, "naver") == START + 300
    assert await redis.lrange(ck.held_list("naver"), 0, -1) == [str(await _index_of(redis, ck, "b@naver.com"))]


async def _index_of(redis: Redis, ck: keys.CampaignKeys, address: str) -> int:
    for idx in range(2):
        if str(await redis.hget(ck.rec(idx), str(idx))).startswith(address):
            return idx
    raise LookupError(address)


async def test_grant_beyond_the_first_peek_calls_the_script_again(redis: Redis, tmp_path: Path) -> None:
    """Wanting more than one peek holds: the script stops at an undeclared recipient, the limiter peeks again."""
    _, ck, identity = await one_identity_campaign(redis, tmp_path, START, n=250)
    limiter = Limiter(Scripts(redis), SEND_JOBS)
    granted = await _grant(limiter, ck, identity, START, 200)
    assert len(granted) == 200 == len(set(granted))
    assert (limiter.calls, limiter.calls_again) == (2, 1)  # a first window of WINDOW_EXTRA, then a full one
    assert WINDOW_EXTRA < 200
    # Every granted send has its arq job; the next grant starts from what was granted last time.
    assert await redis.zcard(SEND_JOBS.name) == 200
    assert len(await _grant(limiter, ck, identity, START + 1, 100)) == 50
    assert limiter.calls_again == 1


def test_script_group_reads_the_address_as_the_grant_script_does() -> None:
    """The peek's domain group of a record matches grant.lua's: first '@', ASCII lower case, yahoo.*."""
    assert [
        script_group("a@Gmail.COM\x1e[]"),
        script_group("a@yahoo.co.jp\x1f"),
        script_group('"x@y"@naver.com\x1e[]'),
        script_group("no-at-sign"),
    ] == ["google", "yahoo", 'y"@naver.com', ""]
