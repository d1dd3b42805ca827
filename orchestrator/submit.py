"""`submit`: a validated campaign and its streamed recipients become a campaign and ledger in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from orchestrator.core.campaign import Campaign
from orchestrator.core.campaign_state import INITIAL
from orchestrator.recipients import LoadStats, RecipientFileError, Row, iter_recipients
from orchestrator.store import events, identities, keys
from orchestrator.store.ledger import encode_record
from orchestrator.store.scripts import as_str_list
from orchestrator.store.scripts import source as script_source

#: Rows written per pipeline round trip.
BATCH = 5000
#: A running submit's claim on its files' fingerprint and the keys it staged live this long without
#: a heartbeat, so a killed submit leaves nothing behind after it (setting SUBMIT_HEARTBEAT_TTL_S).
HEARTBEAT_TTL_S = 60.0
#: The heartbeat refreshes them this many times per TTL (every 15 s with the default TTL).
BEATS_PER_TTL = 4
#: How long a second submit of the same files waits for the first to finish (setting SUBMIT_WAIT_S).
WAIT_S = 300.0
#: How often a waiting submit looks again.
WAIT_POLL_S = 0.1
#: A fingerprint key holding this prefix (then a random token) is being submitted right now.
CLAIM_PREFIX = "submitting:"


class SubmitInProgressError(Exception):
    """The same files are being submitted by another process, which did not finish within the wait."""


class SubmitLostClaimError(Exception):
    """The submit stalled longer than its heartbeat TTL: its claim or its staged keys expired."""


class _StagingKeys(keys.CampaignKeys):
    """The keys of a campaign being staged, and how long they live without a heartbeat."""

    def __init__(self, cid: str, ttl_s: float) -> None:
        super().__init__(cid)
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def staged(self, written: int) -> list[str]:
        """The keys staged once `written` recipients are stored (the queue is written last)."""
        buckets = (written + keys.BUCKET - 1) // keys.BUCKET
        return [f"{self.rec_prefix}{b}" for b in range(buckets)] + [self.queue]


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


async def _write_batch(redis: Redis, ck: _StagingKeys, start: int, rows: list[Row]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        i = 0
        while i < len(rows):  # one HSET per bucket: rows[i:end] are indexes start+i .. start+end-1
            end = min(len(rows), i + keys.BUCKET - (start + i) % keys.BUCKET)
            mapping = {str(start + j): encode_record(r.address, r.values) for j, r in enumerate(rows[i:end], i)}
            key = ck.rec(start + i)
            pipe.hset(key, mapping=mapping)
            pipe.pexpire(key, ck.ttl_ms)
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
    *,
    heartbeat_ttl_s: float = HEARTBEAT_TTL_S,
    wait_s: float = WAIT_S,
    on_wait: Callable[[], None] | None = None,
) -> SubmitResult:
    """Load the recipients and create the campaign, once per set of files, even when run concurrently.

    Nothing is visible until everything is written. The files' fingerprint is claimed first: a
    concurrent submit of the same files waits (calling `on_wait`) and then returns the campaign this
    one created. A failed or cancelled submit removes what it staged before it raises; a killed one
    leaves keys that expire within `heartbeat_ttl_s`. `force_new` claims nothing: another campaign.
    """
    claim = "" if force_new else CLAIM_PREFIX + secrets.token_hex(8)
    if claim:
        existing = await _claim(redis, fingerprint, claim, heartbeat_ttl_s, wait_s, on_wait)
        if existing is not None:
            return await _existing(redis, existing)

    cid = f"{campaign.name}-{secrets.token_hex(3)}"
    ck = _StagingKeys(cid, heartbeat_ttl_s)
    seed = campaign.recipients.shuffle_seed
    if seed is None:
        seed = (rng or random.SystemRandom()).randrange(2**31)
    stats = LoadStats()
    sender_domains = sorted({i.domain for i in campaign.identities})
    valid = 0
    heartbeat = _Heartbeat(redis, fingerprint, claim, ck, lambda: valid)
    try:
        for ident in campaign.identities:
            state = await identities.load(redis, ident.id)
            if state is not None:
                identities.check_compatible(state, campaign, ident.id)
        heartbeat.start()
        batch: list[Row] = []
        for row in iter_recipients(campaign, stats):
            batch.append(row)
            if len(batch) >= BATCH:
                valid = await _flush(redis, ck, batch, valid, sender_domains, stats)
                batch = []
        valid = await _flush(redis, ck, batch, valid, sender_domains, stats)
        stats.valid = valid
        if valid == 0:
            # An empty campaign would only "complete" at once and hide that nothing can be sent.
            why = f"{stats.invalid} invalid, {stats.duplicates} duplicate, {stats.suppressed} suppressed"
            msg = f"no recipient left to send to: all {stats.total} rows were dropped ({why})"
            raise RecipientFileError(campaign.recipients.file, None, msg)
        order = list(range(valid))
        random.Random(seed).shuffle(order)
        for i in range(0, valid, 20000):
            _honour_cancellation()
            async with redis.pipeline(transaction=False) as pipe:
                pipe.rpush(ck.queue, *order[i : i + 20000])
                pipe.pexpire(ck.queue, ck.ttl_ms)
                await pipe.execute()
        del order
        await heartbeat.stop()
        _honour_cancellation()
        await _commit(redis, campaign, ck, fingerprint, claim, seed, stats, now, source)
    except BaseException:
        # Ctrl-C (a cancelled task), SIGTERM, a bad row or a lost claim: remove it all at once.
        await heartbeat.cancel()
        await discard(redis, ck, valid, fingerprint, claim)
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
    redis: Redis, ck: _StagingKeys, batch: list[Row], valid: int, domains: list[str], stats: LoadStats
) -> int:
    _honour_cancellation()
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
    ck: _StagingKeys,
    fingerprint: str,
    claim: str,
    seed: int,
    stats: LoadStats,
    now: float,
    source: str,
) -> None:
    """Make the staged campaign visible in one atomic step, if this submit still owns its claim."""
    await identities.register(redis, campaign)
    meta = {
        "name": campaign.name,
        "state": INITIAL.value,
        "spec": campaign.model_dump_json(by_alias=True),
        "seed": str(seed),
        "submit": json.dumps(stats.as_dict()),
        "created_at": repr(now),
        "fingerprint": fingerprint,
        "source": source,
    }
    buckets = ck.staged(stats.valid)[:-1]
    commit = redis.register_script(script_source("submit_commit"))
    reply = as_str_list(
        await commit(
            keys=[keys.fingerprint(fingerprint), ck.meta, ck.counts, keys.CAMPAIGNS, ck.queue, *buckets],
            args=[claim, CLAIM_PREFIX, ck.cid, repr(now), stats.valid, *(x for kv in meta.items() for x in kv)],
        )
    )
    if reply[0] != "ok":
        msg = (
            f"submit stalled for longer than {ck.ttl_ms / 1000:g} s (SUBMIT_HEARTBEAT_TTL_S) and its staged data "
            "expired; nothing was created: run it again"
        )
        raise SubmitLostClaimError(msg)


async def discard(redis: Redis, ck: keys.CampaignKeys, written: int, fingerprint: str, claim: str = "") -> None:
    """Remove whatever a failed submit staged and give up its claim (a killed one's keys expire)."""
    # A batch whose write was cut short may have reached Redis after `written` was last counted.
    buckets = (written + BATCH) // keys.BUCKET + 1
    names = [f"{ck.rec_prefix}{b}" for b in range(buckets)] + ck.all_fixed()
    script = redis.register_script(script_source("submit_discard"))
    await script(keys=[keys.fingerprint(fingerprint), ck.meta, *names], args=[claim])


async def _claim(
    redis: Redis, fingerprint: str, claim: str, ttl_s: float, wait_s: float, on_wait: Callable[[], None] | None
) -> str | None:
    """Claim the files' fingerprint (None), or the id of the campaign already created from them."""
    key = keys.fingerprint(fingerprint)
    ttl_ms = max(1, int(ttl_s * 1000))
    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        if await redis.set(key, claim, nx=True, px=ttl_ms):
            return None
        current = await redis.get(key)
        if current is None:
            continue  # released or expired just now
        if not current.startswith(CLAIM_PREFIX):
            if await redis.exists(keys.campaign(current)):
                return str(current)
            if await _take_over(redis, key, current, claim, ttl_ms):  # it named a campaign now gone
                return None
            continue
        if time.monotonic() >= deadline:
            msg = (
                f"these files are being submitted by another process, still running after {wait_s:g} s; "
                "submit them again later to get its campaign id"
            )
            raise SubmitInProgressError(msg)
        if not waiting and on_wait is not None:
            on_wait()
        waiting = True
        await asyncio.sleep(WAIT_POLL_S)


async def _take_over(redis: Redis, key: str, expected: str, claim: str, ttl_ms: int) -> bool:
    """Replace the fingerprint's value with our claim if it still is `expected`."""
    async with redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(key)
            if await pipe.get(key) != expected:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            pipe.set(key, claim, px=ttl_ms)
            await pipe.execute()
        except WatchError:
            return False
    return True


async def _existing(redis: Redis, cid: str) -> SubmitResult:
    """The result of the earlier submit that created campaign `cid` (its counts as stored then)."""
    meta = await redis.hmget(keys.campaign(cid), ["submit", "seed"])
    try:
        stored = json.loads(meta[0] or "{}")
        stats = LoadStats(**{k: v for k, v in stored.items() if k not in ("invalid_reasons", "invalid_examples")})
        seed = int(meta[1] or "0")
    except (ValueError, TypeError):  # unreadable counts do not change which campaign it is
        stats, seed = LoadStats(), 0
    return SubmitResult(cid, False, stats, seed)


def _honour_cancellation() -> None:
    """Raise CancelledError if this task was cancelled (Ctrl-C, SIGTERM) but the cancellation got lost.

    On Python 3.11, redis-py's hiredis reader turns a cancellation that arrives while it polls the
    socket into the timeout it expected, and carries on: the submit would then run to its end.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Heartbeat:
    """Keeps a running submit's claim and staged keys alive, BEATS_PER_TTL times per TTL."""

    def __init__(
        self, redis: Redis, fingerprint: str, claim: str, ck: _StagingKeys, written: Callable[[], int]
    ) -> None:
        self.redis = redis
        self.key = keys.fingerprint(fingerprint)
        self.claim = claim
        self.ck = ck
        self.written = written
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        beat = self.redis.register_script(script_source("submit_beat"))
        every_s = self.ck.ttl_ms / 1000 / BEATS_PER_TTL
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every_s)
            if self._stop.is_set():
                return
            if not await beat(keys=[self.key, *self.ck.staged(self.written())], args=[self.claim, self.ck.ttl_ms]):
                return  # the claim is gone: the commit will find out and say so

    async def stop(self) -> None:
        """Stop after the beat in progress, so no beat can reach Redis after the commit."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def cancel(self) -> None:
        self._stop.set()  # ends the loop even if the cancellation itself gets lost (see above)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await self._task


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
