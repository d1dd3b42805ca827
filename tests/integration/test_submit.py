"""submit on a real redis-server: suppression lists, record buckets, the shuffled queue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.store import keys
from orchestrator.store.ledger import decode_record
from orchestrator.submit import submit
from tests.pipeline_helpers import load, write_campaign

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "lists",
    [
        pytest.param({}, id="all-empty"),
        pytest.param({keys.BLOCKLIST: ["user1@naver.com"]}, id="blocklist"),
        pytest.param({keys.suppression("d1.example.com"): ["user2@daum.net", "user9@nowhere.org"]}, id="one-domain"),
        pytest.param(
            {keys.BLOCKLIST: ["user3@outlook.com"], keys.suppression("d0.example.com"): ["user4@nate.com"]},
            id="both",
        ),
    ],
)
async def test_submit_skips_suppressed_addresses(redis: Redis, tmp_path: Path, lists: dict[str, list[str]]) -> None:
    """Addresses on the blocklist or on any sender domain's suppression list are not loaded; others are."""
    for key, members in lists.items():
        await redis.sadd(key, *members)
    path = write_campaign(tmp_path, 250)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    listed = {m for members in lists.values() for m in members if not m.endswith("nowhere.org")}
    ck = keys.CampaignKeys(result.campaign_id)
    loaded = set()
    for b in range(3):
        for rec in (await redis.hgetall(f"{ck.rec_prefix}{b}")).values():
            loaded.add(decode_record(rec)[0])
    assert result.stats.suppressed == len(listed)
    assert result.stats.valid == 250 - len(listed)
    assert loaded.isdisjoint(listed)
    assert len(loaded) == result.stats.valid


async def test_submit_buckets_and_queue_cover_every_index(redis: Redis, tmp_path: Path) -> None:
    """Every valid recipient has its record under index // BUCKET and appears once in the queue."""
    n = 12_345  # several submit batches, a last bucket that is not full
    path = write_campaign(tmp_path, n)
    campaign, fp = load(path)
    result = await submit(redis, campaign, fp, START, str(path))
    ck = keys.CampaignKeys(result.campaign_id)
    queue = [int(i) for i in await redis.lrange(ck.queue, 0, -1)]
    assert sorted(queue) == list(range(n))
    assert queue != list(range(n))  # shuffled
    for idx in (0, 99, 100, 5000, n - 1):
        address, values = decode_record(await redis.hget(ck.rec(idx), str(idx)))
        assert (address, values) == (f"user{idx}@{address.split('@')[1]}", [f"Name{idx}"])
    sizes = [await redis.hlen(f"{ck.rec_prefix}{b}") for b in range((n + keys.BUCKET - 1) // keys.BUCKET)]
    assert sizes == [keys.BUCKET] * (n // keys.BUCKET) + [n % keys.BUCKET]
    assert await redis.ttl(ck.rec(0)) == -1  # committed: the staging TTL is gone
