"""The grant script's held recipients against the corners a review found: groups held by their own caps,
two identities, an unreadable ledger row, copies at the tail of the last held group.

Each drives `Limiter.grant` directly on a real redis-server, with the held lists and scores set as a
run would have left them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.plan import Caps
from orchestrator.store import keys
from orchestrator.store.limiter import GrantResult, Limiter, Limits
from orchestrator.store.scripts import Scripts
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign
from workers.jobs import SEND_JOBS

START = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
OPEN = {"identity": Caps(100, 1000), "pool": Caps(1000, 10000), "account_interval_s": 0.0001, "account_burst": 10_000}


async def _campaign(
    redis: Redis, tmp: Path, rows: list[str], identities: int = 1
) -> tuple[keys.CampaignKeys, list[str]]:
    path = write_campaign(tmp, 0, identities=identities, csv_text="email,first_name\n" + "\n".join(rows) + "\n")
    campaign, fp = load(path)
    cid = (await submit(redis, campaign, fp, START - 7200, str(path))).campaign_id
    return keys.CampaignKeys(cid), [i.id for i in campaign.identities]


async def _grant(
    redis: Redis, ck: keys.CampaignKeys, ident: str, t: float, limits: Limits, **kw: object
) -> GrantResult:
    return await Limiter(Scripts(redis), SEND_JOBS).grant(
        ck,
        ident,
        "default",
        t,
        5,
        limits,
        "2026-12-01",
        12,
        3600.0,
        **kw,  # type: ignore[arg-type]
    )


async def test_groups_held_by_their_own_caps_do_not_hide_one_that_may_go(redis: Redis, tmp_path: Path) -> None:
    """16 due groups each held an hour by its own caps (more than one look takes) and a 17th that may go:
    the 17th's recipients are granted at once, and the 16 are scored with their own time."""
    ck, [ident] = await _campaign(redis, tmp_path, [f"u{i}@x{i % 17}.test,N" for i in range(34)])
    for idx in await redis.lrange(ck.queue, 0, -1):
        group = f"x{int(idx) % 17}.test"
        await redis.rpush(ck.held_list(group), idx)
        await redis.zadd(ck.held, {group: START - 600 if group != "x16.test" else START - 60})
    await redis.delete(ck.queue)
    groups = {f"x{i}.test": (0, 1000, START + 3600.0) for i in range(16)}  # backing off for an hour
    result = await _grant(redis, ck, ident, START, Limits(**OPEN, catchup_s=60.0, domain_share=0.0, groups=groups))
    assert sorted(g.idx for g in result.grants) == [16, 33]
    assert result.wait_s > 3000  # the others: in an hour, not a poll a second
    assert dict(await redis.zrange(ck.held, 0, -1, withscores=True)) == {
        f"x{i}.test": START + 3600.0 for i in range(16)
    }


async def test_recipients_one_identity_holds_by_its_own_caps_go_through_another(redis: Redis, tmp_path: Path) -> None:
    """Identity A holds google and naver an hour by their own caps; B (no shaping, a 30 % share) sends
    them within the minute instead of waiting for A's hour."""
    rows = [f"u{i}@{'gmail.com' if i % 2 else 'naver.com'},N" for i in range(6)]
    ck, (a, b) = await _campaign(redis, tmp_path, rows, identities=2)
    held = {"google": (0, 1000, START + 3600.0), "naver": (0, 1000, START + 3600.0)}
    shaped = Limits(**OPEN, catchup_s=60.0, domain_share=0.3, groups=held)
    plain = Limits(**OPEN, catchup_s=60.0, domain_share=0.3, groups=None)
    sent: list[int] = []
    for t in (START, START + 30, START + 60):
        for ident, limits in ((a, shaped), (b, plain)):
            result = await _grant(redis, ck, ident, t, limits, peers=[a, b])
            assert ident == b or result.grants == []
            sent += [g.idx for g in result.grants]
    assert sorted(sent) == list(range(6))


async def test_an_unreadable_ledger_row_is_granted_and_rewritten(redis: Redis, tmp_path: Path) -> None:
    """A queued recipient whose ledger row cannot be read is granted (its row rewritten), as before the
    check for copies: the campaign goes on."""
    ck, [ident] = await _campaign(redis, tmp_path, [f"u{i}@example.org,N" for i in range(5)])
    head = str(await redis.lindex(ck.queue, 0))
    await redis.hset(ck.state(int(head)), head, "garbage")
    result = await _grant(redis, ck, ident, START, Limits(**OPEN, catchup_s=60.0, domain_share=0.0))
    assert sorted(g.idx for g in result.grants) == list(range(5))
    assert str(await redis.hget(ck.state(int(head)), head)).startswith("g|")


async def test_a_copy_heading_the_last_held_group_does_not_end_the_call(redis: Redis, tmp_path: Path) -> None:
    """The only held group starts with a copy of a recipient already sent: it is dropped and the next ones
    go at once, not after the share's 100 s."""
    ck, [ident] = await _campaign(redis, tmp_path, [f"u{i}@gmail.com,N" for i in range(3)])
    await redis.delete(ck.queue)
    await redis.hset(ck.state(0), "0", "a|msg-0")
    await redis.rpush(ck.held_list("google"), "0", "1", "2")
    await redis.zadd(ck.held, {"google": START + 100})
    await redis.zadd(keys.IdentityKeys(ident).domains, {"google": START + 100})
    limits = Limits(Caps(1000, 100), Caps(10000, 1000), 0.0001, 10_000, 60.0, 0.3)
    result = await _grant(redis, ck, ident, START, limits)
    assert [g.idx for g in result.grants] == [1, 2]
    assert await redis.hget(ck.state(0), "0") == "a|msg-0"
