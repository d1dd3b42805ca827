"""`submit`: a validated campaign and its streamed recipients become a campaign and ledger in Redis."""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.recipients import LoadStats, Row, iter_recipients
from orchestrator.store import events, identities, keys
from orchestrator.store.campaigns import State
from orchestrator.store.ledger import encode_record

#: Rows written per pipeline round trip.
BATCH = 5000
#: Keys written before the campaign is committed expire by themselves if submit dies midway.
STAGING_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class SubmitResult:
    campaign_id: str
    created: bool  # False: the same files were submitted before; this is the existing campaign
    stats: LoadStats
    seed: int

    def as_json(self) -> dict[str, object]:
        s = self.stats
        return {
            "campaign_id": self.campaign_id,
            "total": s.total,
            "valid": s.valid,
            "invalid": s.invalid,
            "duplicates": s.duplicates,
            "suppressed": s.suppressed,
        }


async def _suppression_sets(redis: Redis, sender_domains: list[str]) -> list[str]:
    """The suppression sets that hold any address: an empty one cannot suppress, so it is not asked.

    Sending four sets every address of a batch was a quarter of a large submit's time, though on a
    first submit they are all empty. A set that fills up later is still checked at claim time.
    """
    names = [keys.BLOCKLIST, *(keys.suppression(d) for d in sender_domains)]
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(name)
        found = await pipe.execute()
    return [name for name, n in zip(names, found, strict=True) if n]


async def _suppressed_mask(redis: Redis, rows: list[Row], sender_domains: list[str]) -> list[bool]:
    sets = await _suppression_sets(redis, sender_domains)
    if not sets:
        return [False] * len(rows)
    addrs = [r.address for r in rows]
    async with redis.pipeline(transaction=False) as pipe:
        for name in sets:
            pipe.smismember(name, addrs)
        replies = await pipe.execute()
    return [any(bool(rep[i]) for rep in replies) for i in range(len(rows))]


async def _write_batch(redis: Redis, ck: keys.CampaignKeys, start: int, rows: list[Row]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        i = 0
        while i < len(rows):  # one HSET per bucket: rows[i:end] are indexes start+i .. start+end-1
            end = min(len(rows), i + keys.BUCKET - (start + i) % keys.BUCKET)
            mapping = {str(start + j): encode_record(r.address, r.values) for j, r in enumerate(rows[i:end], i)}
            key = ck.rec(start + i)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, STAGING_TTL_S)
            i = end
        await pipe.execute()


async def submit(
    redis: Redis,
    campaign: Campaign,
    fingerprint: str,
    now: float,
    source: str,
    force_new: bool = False,
    rng: random.Random | None = None,
) -> SubmitResult:
    """Load the recipients and create the campaign; nothing is visible until everything is written."""
    if not force_new:
        existing = await redis.get(keys.fingerprint(fingerprint))
        if existing and await redis.exists(keys.campaign(existing)):
            meta = await redis.hgetall(keys.campaign(existing))
            stats = LoadStats(**{k: v for k, v in json.loads(meta["submit"]).items() if k != "invalid_reasons"})
            return SubmitResult(existing, False, stats, int(meta.get("seed", "0")))
    for ident in campaign.identities:
        state = await identities.load(redis, ident.id)
        if state is not None:
            identities.check_compatible(state, campaign, ident.id)

    cid = f"{campaign.name}-{secrets.token_hex(3)}"
    ck = keys.CampaignKeys(cid)
    seed = campaign.recipients.shuffle_seed
    if seed is None:
        seed = (rng or random.SystemRandom()).randrange(2**31)
    stats = LoadStats()
    sender_domains = sorted({i.domain for i in campaign.identities})
    valid = 0
    try:
        batch: list[Row] = []
        for row in iter_recipients(campaign, stats):
            batch.append(row)
            if len(batch) >= BATCH:
                valid = await _flush(redis, ck, batch, valid, sender_domains, stats)
                batch = []
        valid = await _flush(redis, ck, batch, valid, sender_domains, stats)
        stats.valid = valid
        order = list(range(valid))
        random.Random(seed).shuffle(order)
        for i in range(0, valid, 20000):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.rpush(ck.queue, *order[i : i + 20000])
                pipe.expire(ck.queue, STAGING_TTL_S)
                await pipe.execute()
        del order
        await _commit(redis, campaign, ck, fingerprint, seed, stats, now, source)
    except BaseException:
        await discard(redis, ck, valid)
        raise
    await events.emit(
        redis,
        now,
        "campaign_submitted",
        cid,
        total=stats.total,
        valid=stats.valid,
        invalid=stats.invalid,
        duplicates=stats.duplicates,
        suppressed=stats.suppressed,
        seed=seed,
        source=source,
    )
    return SubmitResult(cid, True, stats, seed)


async def _flush(
    redis: Redis, ck: keys.CampaignKeys, batch: list[Row], valid: int, domains: list[str], stats: LoadStats
) -> int:
    if not batch:
        return valid
    mask = await _suppressed_mask(redis, batch, domains)
    keep = [r for r, s in zip(batch, mask, strict=True) if not s]
    stats.suppressed += len(batch) - len(keep)
    await _write_batch(redis, ck, valid, keep)
    return valid + len(keep)


async def _commit(
    redis: Redis,
    campaign: Campaign,
    ck: keys.CampaignKeys,
    fingerprint: str,
    seed: int,
    stats: LoadStats,
    now: float,
    source: str,
) -> None:
    buckets = (stats.valid + keys.BUCKET - 1) // keys.BUCKET
    async with redis.pipeline(transaction=False) as pipe:
        for b in range(buckets):
            pipe.persist(f"{ck.rec_prefix}{b}")
        pipe.persist(ck.queue)
        await pipe.execute()
    await identities.register(redis, campaign)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(ck.counts, mapping={"queued": stats.valid})
        pipe.hset(
            ck.meta,
            mapping={
                "name": campaign.name,
                "state": State.RUNNING.value if stats.valid else State.COMPLETED.value,
                "spec": campaign.model_dump_json(by_alias=True),
                "seed": str(seed),
                "submit": json.dumps(stats.as_dict()),
                "created_at": repr(now),
                "fingerprint": fingerprint,
                "source": source,
            },
        )
        pipe.zadd(keys.CAMPAIGNS, {ck.cid: now})
        pipe.set(keys.fingerprint(fingerprint), ck.cid)
        await pipe.execute()


async def discard(redis: Redis, ck: keys.CampaignKeys, written: int) -> None:
    """Remove whatever a failed submit wrote (the staging TTL covers a submit that was killed)."""
    buckets = (written + keys.BUCKET) // keys.BUCKET + 1
    names = [f"{ck.rec_prefix}{b}" for b in range(buckets)] + ck.all_fixed()
    for i in range(0, len(names), 1000):
        await redis.unlink(*names[i : i + 1000])


def describe(path: Path, result: SubmitResult) -> str:
    s = result.stats
    head = (
        f"campaign {result.campaign_id} created from {path}"
        if result.created
        else f"{path} was already submitted as campaign {result.campaign_id} (use --new for another)"
    )
    lines = [
        head,
        f"  rows {s.total:,}  valid {s.valid:,}  invalid {s.invalid:,}  duplicates {s.duplicates:,}  "
        f"suppressed {s.suppressed:,}  (shuffle seed {result.seed})",
    ]
    for reason, n in s.invalid_reasons.most_common():
        lines.append(f"  invalid: {reason}: {n:,}")
    lines.extend(f"    {ex}" for ex in s.invalid_examples[:5])
    return "\n".join(lines)
