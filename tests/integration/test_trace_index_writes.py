"""The address index as submit writes it in gathered batches: appends, first rows of duplicates, TTLs."""

from __future__ import annotations

from redis.asyncio import Redis

from orchestrator.core.recipient_trace import Dropped
from orchestrator.store import keys, trace_index


async def test_rows_of_one_address_across_writes_are_all_indexed_in_file_order(redis: Redis) -> None:
    """An invalid row before the valid one, a duplicate in a later write: every row is found, the first named."""
    cid = "idx-test"
    await redis.zadd(keys.CAMPAIGNS, {cid: 1})
    await redis.hset(keys.campaign(cid), "trace_buckets", "4")
    staging = trace_index.Staging(cid, 4, ttl_ms=60_000)
    # Row 2 is invalid for another reason with the same (normalised) text; row 3 loads as index 0.
    await staging.write(redis, [(0, 3, "a@example.com")], [Dropped(2, " a@Example.com", "invalid", "too long")])
    await staging.flush(redis)
    await staging.write(redis, [(1, 9, "b@example.com")], [Dropped(7, "a@example.com", "duplicate")])
    await staging.flush(redis)

    places, unindexed = await trace_index.places(redis, "a@example.com")
    assert unindexed == 0
    assert [(p.row, p.index, p.kind) for p in places] == [
        (2, None, "invalid"),
        (3, 0, "loaded"),
        (7, None, "duplicate"),
    ]
    dup = await trace_index.dropped_row(redis, cid, 7)
    assert dup is not None
    assert dup.detail == "3"  # the duplicate names the first loaded row, not the invalid one
    for name in staging.names():
        assert 0 < await redis.pttl(name) <= 60_000, name  # every staged hash expires unless committed
    assert [(p.row, p.index) for p in (await trace_index.places(redis, "b@example.com"))[0]] == [(9, 1)]


async def test_an_address_is_found_whatever_the_case_of_its_letters(redis: Redis) -> None:
    """A row written `Jiwoo@` and its repeat `JIWOO@` are one address: `trace` by any spelling finds both,
    and the repeat names its first row (submit's duplicate check folds the case the same way)."""
    cid = "fold-test"
    await redis.zadd(keys.CAMPAIGNS, {cid: 1})
    await redis.hset(keys.campaign(cid), "trace_buckets", "8")
    staging = trace_index.Staging(cid, 8, ttl_ms=60_000)
    await staging.write(redis, [(0, 1, "Jiwoo@naver.com")], [Dropped(4, "JIWOO@naver.com", "duplicate")])
    await staging.flush(redis)
    for spelling in ("jiwoo@naver.com", "Jiwoo@Naver.com", "JIWOO@NAVER.COM"):
        places, _ = await trace_index.places(redis, spelling)
        assert [(p.row, p.kind) for p in places] == [(1, "loaded"), (4, "duplicate")], spelling
    dup = await trace_index.dropped_row(redis, cid, 4)
    assert dup is not None
    assert dup.detail == "1"


async def test_a_campaign_indexed_by_its_spelling_is_still_found(redis: Redis) -> None:
    """An index written before it folded (the field as submitted) answers the query as written and folded."""
    cid = "old-index"
    await redis.zadd(keys.CAMPAIGNS, {cid: 1})
    await redis.hset(keys.campaign(cid), "trace_buckets", "8")
    field = "Jiwoo@naver.com"
    await redis.hset(keys.trace_bucket(cid, trace_index.bucket_of(field, 8)), field, "3:0")
    assert [p.row for p in (await trace_index.places(redis, "Jiwoo@naver.com"))[0]] == [3]
    assert [p.row for p in (await trace_index.places(redis, "jiwoo@naver.com"))[0]] == []  # as written only
