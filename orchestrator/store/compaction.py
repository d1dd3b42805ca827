"""Compaction: a finished campaign kept as its summary once its retention period is over.

A completed or cancelled campaign keeps every per-recipient key for COMPLETED_RETENTION_DAYS after
it finished (its `changed_at`), so `trace` and `export` answer for it. Then the sweeper compacts it:

- kept: its meta hash (spec, state, reason, submit counts, timeline times, and the recipients left
  in doubt for the operator, `in_doubt_kept`), its `counts` hash, its
  place in `wo:campaigns`, its fingerprint, the suppression lists (never per campaign), the
  all-time feedback totals;
- removed: every other `wo:c:<cid>:*` key: the ledger (`r:`/`s:` buckets), queues, in-flight and
  doubt sets, held lists, windows and day counters, the trace index and the rows submit dropped,
  the histories; its entries in the MessageId map (`wo:msgid`) and the delivery follow-up
  (`wo:fb:pending`), their event hashes (`wo:fb:m:*`); its guardrail acknowledgement.

A campaign with a send still granted or in flight (a cancelled campaign's last jobs) waits: those
jobs still write to its ledger. A campaign that sent mail also waits until MAIL_KEPT_S (8 days) after
it finished, whatever its retention: its late bounces and complaints count in its identities'
guardrails only through its MessageIds, and another campaign's status lookup tells this campaign's
mail from its own by them (without them it took this campaign's mail for its own send and never
sent it). Crash-safe and idempotent: the meta hash gets `compacting` (when it
began) first, so `trace` and `export` speak of the compaction from then on; the keys go in bounded
batches (SCAN + UNLINK, the cursor kept in the meta hash), the MessageIds of each batch's ledger
state buckets dropped from the map before the buckets themselves; `compacted_at` is written once
nothing is left, and a later sweep finishes a compaction a kill interrupted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from orchestrator.core import ledger_state
from orchestrator.core.campaign_state import CampaignState
from orchestrator.store import keys
from orchestrator.store.feedback import COHORT_KEEP_S
from orchestrator.store.ledger import Ledger
from orchestrator.store.stored_values import MAX_TIME_S, BadStoredValueError, whole

#: Keys asked of SCAN and unlinked per round trip.
BATCH = 500
#: Round trips one sweep spends on compaction at most; the next sweep goes on.
BATCHES_PER_SWEEP = 40
FINISHED = (CampaignState.COMPLETED.value, CampaignState.CANCELLED.value)
IN_FLIGHT = ("granted", "inflight")
#: The counts that say the campaign sent mail (or may have: a doubt left for the operator).
SENT = ("accepted", "in_doubt")
#: How long after it finished a campaign that sent mail keeps its MessageIds, whatever its retention:
#: as long as its identities' guardrail cohorts count the events of its mail (feedback.COHORT_KEEP_S).
MAIL_KEPT_S = COHORT_KEEP_S
#: The meta hash's field that keeps the recipients left in doubt once the ledger is gone (JSON list of
#: [index, address, since, identity]).
IN_DOUBT_KEPT = "in_doubt_kept"
#: The submit counts of the rows it dropped, in the order a summary names them.
DROPPED_AT_SUBMIT = ("invalid", "duplicates", "suppressed")


class CompactionRefusedError(Exception):
    """The campaign's ledger could not be read (a damaged key): it is not compacted, nothing is removed."""

    def __init__(self, cid: str) -> None:
        super().__init__(f"campaign {cid}: its ledger cannot be read, so it is not compacted")
        self.cid = cid


@dataclass(frozen=True, slots=True)
class Compacted:
    """A campaign whose per-recipient data was compacted (or is being compacted) at `at`."""

    cid: str
    name: str
    state: str
    at: float
    done: bool
    counts: dict[str, int]
    #: The rows submit dropped (invalid, duplicates, suppressed): kept with the campaign, never loaded.
    at_submit: dict[str, int] = field(default_factory=dict)


async def due(redis: Redis, now: float, retention_s: float, cids: list[str] | None = None) -> list[str]:
    """Finished campaigns past their retention, no send of theirs in flight, whose compaction is not done
    (of `cids`, every campaign's id when the caller has not read them)."""
    if cids is None:
        cids = [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for cid in cids:
            pipe.hmget(keys.campaign(cid), ["state", "changed_at", "compacted_at"])
            _ask_busy(pipe, cid)
        # A campaign whose keys hold another type (damaged) is never due; the others still are.
        replies = await pipe.execute(raise_on_error=False)
    out = []
    for i, cid in enumerate(cids):
        meta, counts, doubts = replies[3 * i], replies[3 * i + 1], replies[3 * i + 2]
        if isinstance(meta, Exception) or _busy(counts, doubts):
            continue
        state, changed, done = meta
        if state in FINISHED and done is None and max(_num(changed) + retention_s, _kept(changed, counts)) <= now:
            out.append(cid)
    return out


async def mail_kept_until(redis: Redis, cid: str) -> float:
    """The first instant the finished campaign may be compacted, its retention aside: MAIL_KEPT_S after it
    finished if it sent mail, else any time (0); infinity when unreadable: never compacted, nothing lost."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hget(keys.campaign(cid), "changed_at")
        _ask_busy(pipe, cid)
        changed, counts, _ = await pipe.execute(raise_on_error=False)
    return float("inf") if isinstance(changed, Exception) else _kept(changed, counts)


def _kept(changed: object, counts: object) -> float:
    """When the campaign's mail stops counting for others: `changed` (it finished) plus MAIL_KEPT_S if
    it sent mail or may have (the SENT counts of `counts`, the reply of `_ask_busy`); 0 if it sent none."""
    if not isinstance(counts, list):
        return float("inf")
    sent = any(_num(c or 0) != 0 for c in counts[len(IN_FLIGHT) :])
    return _num(changed) + MAIL_KEPT_S if sent else 0.0


def _ask_busy(pipe: Pipeline, cid: str) -> None:
    ck = keys.CampaignKeys(cid)
    pipe.hmget(ck.counts, [*IN_FLIGHT, *SENT])
    pipe.zcard(ck.doubt)


def _busy(counts: object, doubts: object) -> bool:
    """A send granted or in flight (a cancelled campaign's last jobs: they still write to the ledger), or
    one in doubt awaiting its status lookup (which records its MessageId, so its bounces and complaints
    count for its identity). An unreadable reply (a damaged key) counts as busy: nothing is removed."""
    if not isinstance(counts, list) or isinstance(doubts, Exception):
        return True
    return any(_num(c or 0) != 0 for c in counts[: len(IN_FLIGHT)]) or _num(doubts or 0) != 0


def _num(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return float("inf")
    # nan, or no time at all (before 1970, after 9999): never due, and shown as unknown
    return value if math.isfinite(value) and 0.0 <= value <= MAX_TIME_S else float("inf")


async def compact(redis: Redis, cid: str, now: float, batches: int = BATCHES_PER_SWEEP) -> tuple[bool, int]:
    """Remove up to `batches` batches of the campaign's per-recipient keys: (done, keys removed)."""
    meta = keys.campaign(cid)
    state, finished_at = await redis.hmget(meta, ["state", "compacted_at"])
    if state not in FINISHED:
        return False, 0
    if finished_at is not None:
        return True, 0  # done before: its date stays
    if await in_flight(redis, cid):
        return False, 0
    if not await _keep_in_doubt(redis, cid):
        raise CompactionRefusedError(cid)
    await redis.hsetnx(meta, "compacting", repr(now))
    ck = keys.CampaignKeys(cid)
    removed = 0
    cursor = _cursor(await redis.hget(meta, "compact_cursor"))  # where a cut-short run stopped
    for _ in range(batches):
        cursor, found = await redis.scan(cursor, match=f"{ck.base}*", count=BATCH)
        doomed = [str(k) for k in found if str(k) != ck.counts]
        await _drop_message_ids(redis, [k for k in doomed if k.startswith(ck.state_prefix)])
        if doomed:
            await redis.unlink(*doomed)
            removed += len(doomed)
        if cursor == 0:
            await redis.hdel(keys.GUARD_ACK, cid)
            await redis.hset(meta, "compacted_at", repr(now))
            await redis.hdel(meta, "compact_cursor")
            return True, removed
        await redis.hset(meta, "compact_cursor", str(cursor))
    return False, removed


def _cursor(raw: str | None) -> int:
    """The stored SCAN cursor; 0 (scan again from the start: it only repeats work) when damaged."""
    try:
        return whole(raw, "compaction cursor")
    except BadStoredValueError:
        return 0


async def in_flight(redis: Redis, cid: str) -> bool:
    """Whether the campaign still has a send granted, in flight, or in doubt awaiting its lookup."""
    async with redis.pipeline(transaction=False) as pipe:
        _ask_busy(pipe, cid)
        counts, doubts = await pipe.execute(raise_on_error=False)
    return _busy(counts, doubts)


async def _keep_in_doubt(redis: Redis, cid: str) -> bool:
    """Before its ledger goes: the recipients left in doubt for the operator, kept in the meta hash for
    `status --in-doubt` (nothing else names them). False when the ledger cannot be read (damaged): the
    campaign is then not compacted, so nothing is lost."""
    meta, ck = keys.campaign(cid), keys.CampaignKeys(cid)
    if await redis.hexists(meta, IN_DOUBT_KEPT):
        return True
    rows: list[tuple[int, str, float, str]] = []
    try:
        if _num(await redis.hget(ck.counts, "in_doubt") or 0) != 0:
            valid = whole(json.loads(await redis.hget(meta, "submit") or "{}").get("valid", 0), "valid")
            rows = await Ledger(redis).in_doubt(ck, valid)
    except (ValueError, AttributeError, ResponseError, BadStoredValueError):
        return False
    await redis.hset(meta, IN_DOUBT_KEPT, json.dumps(rows))
    return True


async def kept_in_doubt(redis: Redis, cid: str) -> list[tuple[int, str, float, str]] | None:
    """The recipients left in doubt a compaction kept (index, address, since, identity); None before it."""
    raw = await redis.hget(keys.campaign(cid), IN_DOUBT_KEPT)
    if raw is None:
        return None
    try:
        return [(int(i), str(a), float(t), str(d)) for i, a, t, d in json.loads(raw)]
    except (ValueError, TypeError):
        return []


async def _drop_message_ids(redis: Redis, buckets: list[str]) -> None:
    """The MessageId map's entries of the sends recorded in these state buckets, and their event hashes."""
    if not buckets:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for b in buckets:
            pipe.hvals(b)
        values = await pipe.execute()
    ids = []
    for raws in values:
        for raw in raws:
            try:
                mid = ledger_state.parse(str(raw)).fields.get("message_id", "")
            except ledger_state.LedgerFormatError:
                continue
            if mid:
                ids.append(mid)
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.FB_PENDING, *chunk)  # no delivery follow-up of a compacted campaign's sends
            pipe.hdel(keys.MESSAGE_IDS, *chunk)
            pipe.unlink(*(keys.fb_message(m) for m in chunk))
            await pipe.execute()


async def compacted(redis: Redis, cids: list[str]) -> list[Compacted]:
    """Those of `cids` compacted (or being compacted), with the summary they keep."""
    async with redis.pipeline(transaction=False) as pipe:
        for cid in cids:
            pipe.hmget(keys.campaign(cid), ["name", "state", "compacting", "compacted_at", "submit"])
            pipe.hgetall(keys.CampaignKeys(cid).counts)
        replies = await pipe.execute()
    out = []
    for i, cid in enumerate(cids):
        (name, state, began, done, submit), counts = replies[2 * i], replies[2 * i + 1]
        if began is None and done is None:
            continue
        at = _num(done if done is not None else began)
        whole = {str(k): int(v) for k, v in counts.items() if str(v).lstrip("-").isdigit()}
        gone = Compacted(cid, str(name or ""), str(state or ""), at, done is not None, whole, _dropped(submit))
        out.append(gone)
    return out


def _dropped(submit: str | None) -> dict[str, int]:
    """The rows submit dropped, by why, from the stored submit counts (none when they cannot be read)."""
    try:
        stats = json.loads(submit or "{}")
    except ValueError:
        return {}
    if not isinstance(stats, dict):
        return {}
    return {k: v for k in DROPPED_AT_SUBMIT if type(v := stats.get(k)) is int and v > 0}


def as_json(c: Compacted) -> dict[str, object]:
    return {
        "campaign": c.cid,
        "name": c.name,
        "state": c.state,
        "at": c.at,
        "done": c.done,
        "counts": c.counts,
        "at_submit": c.at_submit,
    }


def describe(c: Compacted) -> str:
    """One line: the campaign, when its per-recipient data was compacted, and its summary counts."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(c.at, tz=UTC).date().isoformat() if c.at != float("inf") else "?"
    verb = "compacted on" if c.done else "being compacted since"
    figures = ", ".join(f"{k} {v}" for k, v in sorted(c.counts.items()) if v)
    line = f"campaign {c.cid} ({c.name}, {c.state}): per-recipient data {verb} {when}; summary: {figures or 'none'}"
    if c.at_submit:
        line += "; dropped at submit: " + ", ".join(f"{k} {v}" for k, v in c.at_submit.items())
    return line
