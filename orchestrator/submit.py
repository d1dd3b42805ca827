"""`submit`: a validated campaign and its streamed recipients become a campaign and ledger in Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from orchestrator.core.addresses import fold
from orchestrator.core.campaign import SEED_BOUND, Campaign
from orchestrator.core.campaign_state import INITIAL, UNFINISHED
from orchestrator.core.recipient_trace import Dropped
from orchestrator.input_files import describe_os_error, open_regular
from orchestrator.recipients import LoadStats, RecipientFileError, Row, iter_rows
from orchestrator.store import events, identities, keys, suppression
from orchestrator.store.ledger import encode_record
from orchestrator.store.scripts import as_str_list
from orchestrator.store.scripts import source as script_source
from orchestrator.submit_claim import (
    CLAIM_PREFIX,
    Heartbeat,
    ListDigest,
    StagingKeys,
    SubmitInProgressError,
    claim_fingerprint,
    commit_turn,
    despite_cancels,
    honour_cancellation,
)
from orchestrator.submit_overlap import ListOverlapError, Overlap

__all__ = [
    "BATCH",
    "HEARTBEAT_TTL_S",
    "WAIT_S",
    "ListOverlapError",
    "SubmitInProgressError",
    "SubmitLostClaimError",
    "SubmitResult",
    "describe",
    "discard",
    "submit",
]

#: Rows written per pipeline round trip.
BATCH = 5000
#: A running submit's claim on its files' fingerprint and the keys it staged live this long without
#: a heartbeat, so a killed submit leaves nothing behind after it (setting SUBMIT_HEARTBEAT_TTL_S).
HEARTBEAT_TTL_S = 60.0
#: How long a second submit of the same files waits for the first to finish (setting SUBMIT_WAIT_S).
WAIT_S = 300.0


class ListInUseError(Exception):
    """The recipient file is the list of a campaign that has not finished: submitting it again would mail
    its recipients twice (`--new` sends it as another campaign all the same)."""


class SubmitLostClaimError(Exception):
    """The submit stalled longer than its heartbeat TTL: its claim or its staged keys expired."""


class SubmitCommittedError(Exception):
    """The submit was cut short (Ctrl-C, SIGTERM, a reply lost) once its campaign had been created: the
    campaign exists and runs; only the report of it was lost."""

    def __init__(self, campaign_id: str, interrupted: bool) -> None:
        super().__init__(
            f"campaign {campaign_id} was created and is running, but the submit was cut short before it could "
            f"report it: `orchestrate status {campaign_id}` shows it (submitting the file again names it too)"
        )
        self.campaign_id = campaign_id
        self.interrupted = interrupted


@dataclass(frozen=True, slots=True)
class SubmitResult:
    campaign_id: str
    created: bool  # False: the same files were submitted before; this is the existing campaign
    stats: LoadStats
    seed: int
    state: str = ""  # the existing campaign's state now (a new one's is the initial state)

    def as_json(self) -> dict[str, object]:
        s = self.stats
        return {
            "campaign_id": self.campaign_id,
            "created": self.created,
            "state": self.state or INITIAL.value,
            "total": s.total,
            "valid": s.valid,
            "invalid": s.invalid,
            "duplicates": s.duplicates,
            "suppressed": s.suppressed,
        }


async def _write_batch(redis: Redis, ck: StagingKeys, start: int, rows: list[Row]) -> None:
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

    Nothing is visible until everything is written. The files' fingerprint is claimed first: a concurrent
    submit of the same files waits (calling `on_wait`) and then returns the campaign this one created. A
    failed or cancelled submit removes what it staged before it raises; a killed one leaves keys that
    expire within `heartbeat_ttl_s`. `force_new` claims nothing and compares nothing: another campaign."""
    claim = "" if force_new else CLAIM_PREFIX + secrets.token_hex(8)
    if claim:
        existing = await claim_fingerprint(redis, fingerprint, claim, heartbeat_ttl_s, wait_s, on_wait)
        if existing is not None:
            return await _existing(redis, existing)
    cid = f"{campaign.name}-{secrets.token_hex(3)}"
    before = await events.newest_id(redis)  # its log starts after it, its identities' events from `now` on
    ck = StagingKeys(cid, heartbeat_ttl_s, _file_bytes(campaign))
    seed = _seed(campaign, rng)
    stats = LoadStats()
    sender_domains = sorted({i.domain for i in campaign.identities})
    valid = 0
    heartbeat = Heartbeat(redis, fingerprint, claim, ck, lambda: valid)
    try:
        overlap = await Overlap.of_unfinished(redis, none=force_new)  # --new: nothing is looked up
        await identities.check_campaign(redis, campaign)
        heartbeat.start()
        batch: list[Row | Dropped] = []
        for row in iter_rows(campaign, stats):
            batch.append(row)
            if len(batch) >= BATCH:
                valid = await _flush(redis, ck, batch, valid, sender_domains, stats, now, overlap)
                batch = []
        valid = await _flush(redis, ck, batch, valid, sender_domains, stats, now, overlap)
        await ck.trace.flush(redis)
        stats.valid = valid
        _refuse_empty(campaign, stats)
        await _write_queue(redis, ck, valid, seed)
        async with commit_turn(redis):  # the checks against other campaigns and the commit: one submit at a time
            listed = await _list_of(redis, campaign, ck, force_new)
            await overlap.refuse(redis, ck.trace, campaign.recipients.file)  # shares addresses with an unfinished one
            await heartbeat.stop()  # kept beating while the turn was awaited and the list compared
            honour_cancellation()
            await _commit(redis, campaign, ck, fingerprint, listed, claim, seed, stats, now, source)
        await _emit_submitted(redis, now, cid, stats, seed, source, before)
    except BaseException as exc:
        # Ctrl-C, SIGTERM, a bad row, a lost claim: remove it all at once, unless it was committed.
        if await despite_cancels(_remove_staged(heartbeat, redis, ck, valid, fingerprint, claim)):
            raise
        raise SubmitCommittedError(cid, isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)) from exc
    return SubmitResult(cid, True, stats, seed)


async def _remove_staged(
    heartbeat: Heartbeat, redis: Redis, ck: StagingKeys, written: int, fingerprint: str, claim: str
) -> bool:
    """`discard`, run through `despite_cancels` by a stopped submit: a second Ctrl-C, or `run`'s repeated
    cancel, would otherwise cut it short (the staged keys outliving the line saying they were removed, the
    claim holding the files for a heartbeat TTL)."""
    await heartbeat.cancel()
    return await discard(redis, ck, written, fingerprint, claim)


def _seed(campaign: Campaign, rng: random.Random | None) -> int:
    """The shuffle's seed: the file's, or a new one (recorded with the campaign, so the order can be told)."""
    seed = campaign.recipients.shuffle_seed
    return seed if seed is not None else (rng or random.SystemRandom()).randrange(2**31)


async def _list_of(redis: Redis, campaign: Campaign, ck: StagingKeys, force_new: bool) -> str:
    """The loaded list's digest (submit_claim.ListDigest); raises ListInUseError when a campaign that has
    not finished sends the same addresses (not `force_new`)."""
    listed = ck.listed.hexdigest()
    if not force_new:
        await _refuse_a_list_in_use(redis, campaign, listed)
    return listed


def _bytes_digest(campaign: Campaign) -> str:
    """sha256 of the recipient file's bytes: what a campaign of an earlier release recorded as its list."""
    digest = hashlib.sha256()
    try:
        with open_regular(campaign.recipients.file) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise RecipientFileError(campaign.recipients.file, None, describe_os_error(exc)) from None
    return digest.hexdigest()


async def _refuse_a_list_in_use(redis: Redis, campaign: Campaign, listed: str) -> None:
    """Raise when a campaign that has not finished (running or paused) was submitted with this very list."""
    cids = [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for cid in cids:
            pipe.hmget(keys.CampaignKeys(cid).meta, ["list", "state"])
        found = await pipe.execute(raise_on_error=False)
    from_bytes = ""  # the file's digest as an earlier release recorded it, read only if one is stored
    for cid, reply in zip(cids, found, strict=True):
        if not isinstance(reply, list) or reply[1] not in UNFINISHED or not reply[0]:
            continue
        stored = str(reply[0])
        if not stored.startswith(ListDigest.PREFIX):  # recorded by an earlier release: sha256 of the bytes
            from_bytes = from_bytes or _bytes_digest(campaign)
        if stored in (listed, from_bytes):
            msg = (
                f"{campaign.recipients.file} holds the recipient list of campaign {cid} ({reply[1]}), which has "
                "not finished (the same addresses, however the file is written): its recipients would be "
                "mailed twice. Wait for it or cancel it, or pass --new to send this list again as another campaign"
            )
            raise ListInUseError(msg)


def _file_bytes(campaign: Campaign) -> int:
    """The recipient file's size, to size the address index (0 when it cannot be read: submit says why)."""
    try:
        return campaign.recipients.file.stat().st_size
    except OSError:
        return 0


def _refuse_empty(campaign: Campaign, stats: LoadStats) -> None:
    """Raise when every row was dropped."""
    if stats.valid == 0:
        # An empty campaign would only "complete" at once and hide that nothing can be sent.
        why = f"{stats.invalid} invalid, {stats.duplicates} duplicate, {stats.suppressed} suppressed"
        msg = f"no recipient left to send to: all {stats.total} rows were dropped ({why})"
        raise RecipientFileError(campaign.recipients.file, None, msg)


def _signed(seed: int) -> int:
    """The seed `random` is given: it drops an int's sign (-42 shuffled as 42), so a negative seed, above
    -SEED_BOUND, is moved past every seed the file may hold; a seed of 0 or more is given as it is."""
    return seed if seed >= 0 else 2 * SEED_BOUND - seed


async def _write_queue(redis: Redis, ck: StagingKeys, valid: int, seed: int) -> None:
    """Stage the send queue: the recipients' indexes in the order the seed shuffles them."""
    order = list(range(valid))
    random.Random(_signed(seed)).shuffle(order)
    for i in range(0, valid, 20000):
        honour_cancellation()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.rpush(ck.queue, *order[i : i + 20000])
            pipe.pexpire(ck.queue, ck.ttl_ms)
            await pipe.execute()


async def _emit_submitted(
    redis: Redis, now: float, cid: str, stats: LoadStats, seed: int, src: str, before: str
) -> None:
    """The `campaign_submitted` event, and the stream id the campaign's events all come after (`events_after`)."""
    await events.emit(
        redis,
        now,
        "campaign_submitted",
        cid,
        **{k: getattr(stats, k) for k in ("total", "valid", "invalid", "duplicates", "suppressed")},
        seed=seed,
        source=src,
    )
    await redis.hset(keys.campaign(cid), "events_after", before)


async def _flush(
    redis: Redis,
    ck: StagingKeys,
    batch: list[Row | Dropped],
    valid: int,
    domains: list[str],
    stats: LoadStats,
    now: float,
    overlap: Overlap,
) -> int:
    """Write a batch of rows: the loaded recipients, the dropped rows and the address index of both; look
    the loaded addresses up in the unfinished campaigns (`overlap`)."""
    honour_cancellation()
    rows = [r for r in batch if isinstance(r, Row)]
    dropped = [r for r in batch if isinstance(r, Dropped)]
    ck.listed.add([fold(r.address) for r in rows])  # one mailbox however its local part is cased
    why = await suppression.suppressed_why(redis, [r.address for r in rows], domains, now) if rows else []
    keep = [r for r, w in zip(rows, why, strict=True) if not w]
    dropped += [Dropped(r.row, r.address, "suppressed", w) for r, w in zip(rows, why, strict=True) if w]
    stats.suppressed += len(rows) - len(keep)
    await overlap.add(redis, [r.address for r in keep])
    await _write_batch(redis, ck, valid, keep)
    await ck.trace.write(redis, [(valid + i, r.row, r.address) for i, r in enumerate(keep)], dropped)
    return valid + len(keep)


async def _commit(
    redis: Redis,
    campaign: Campaign,
    ck: StagingKeys,
    fingerprint: str,
    listed: str,
    claim: str,
    seed: int,
    stats: LoadStats,
    now: float,
    source: str,
) -> None:
    """Make the staged campaign visible in one atomic step, if this submit still owns its claim.
    `fingerprint`: of both files; `listed`: the recipient list's own digest."""
    await identities.check_campaign(redis, campaign)  # again: another submit may have registered meanwhile
    id_keys, id_args = identities.registration(campaign)
    meta = {
        "name": campaign.name,
        "state": INITIAL.value,
        "spec": campaign.model_dump_json(by_alias=True),
        "seed": str(seed),
        "submit": json.dumps(stats.as_dict()),
        "created_at": repr(now),
        "fingerprint": fingerprint,
        "list": listed,
        "source": source,
        "trace_buckets": str(ck.trace.buckets),
    }
    buckets = ck.staged(stats.valid)[:-1]
    commit = redis.register_script(script_source("submit_commit"))
    fixed = [keys.fingerprint(fingerprint), ck.meta, ck.counts, keys.CAMPAIGNS, ck.queue, keys.IDENTITIES]
    head: list[str | int] = [claim, CLAIM_PREFIX, ck.cid, repr(now), stats.valid, len(id_keys)]
    pairs = [x for kv in meta.items() for x in kv]
    reply = as_str_list(await commit(keys=[*fixed, *id_keys, *buckets], args=[*head, *id_args, *pairs]))
    if reply[0] != "ok":
        msg = (
            f"submit stalled for longer than {ck.ttl_ms / 1000:g} s (SUBMIT_HEARTBEAT_TTL_S) and its staged data "
            "expired; nothing was created: run it again"
        )
        raise SubmitLostClaimError(msg)


async def discard(redis: Redis, ck: StagingKeys, written: int, fingerprint: str, claim: str = "") -> bool:
    """Remove whatever a failed submit staged and give up its claim (a killed one's keys expire); False
    when the campaign had been committed (then it is left as it is)."""
    # A batch whose write was cut short may have reached Redis after `written` was last counted.
    buckets = (written + BATCH) // keys.BUCKET + 1
    names = [f"{ck.rec_prefix}{b}" for b in range(buckets)] + ck.all_fixed() + ck.trace.names()
    script = redis.register_script(script_source("submit_discard"))
    return bool(await script(keys=[keys.fingerprint(fingerprint), ck.meta, *names], args=[claim]))


async def _existing(redis: Redis, cid: str) -> SubmitResult:
    """The result of the earlier submit that created campaign `cid` (its counts as stored then)."""
    meta = await redis.hmget(keys.campaign(cid), ["submit", "seed", "state"])
    try:
        stored = json.loads(meta[0] or "{}")
        stats = LoadStats(**{k: v for k, v in stored.items() if k not in ("invalid_reasons", "invalid_examples")})
        seed = int(meta[1] or "0")
    except (ValueError, TypeError):  # unreadable counts do not change which campaign it is
        stats, seed = LoadStats(), 0
    return SubmitResult(cid, False, stats, seed, str(meta[2] or "unknown"))


def describe(path: Path, result: SubmitResult) -> str:
    s = result.stats
    head = (
        f"campaign {result.campaign_id} created from {path}"
        if result.created
        else f"{path} was already submitted as campaign {result.campaign_id}, {result.state} now "
        "(--new submits it again as another campaign, mailing its recipients a second time)"
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
