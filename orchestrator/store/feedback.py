"""The delivery-feedback store: Tencent's events counted per identity, campaign and domain group, by cohort.

Layout (keys.py, "Delivery feedback"): one hash `wo:fb:cohorts` holds, per hour of the SEND
time, "<hour>|<metric>|i|<identity>", "<hour>|<metric>|c|<campaign>" and
"<hour>|<metric>|g|<domain group>" counts, pruned after COHORT_KEEP_S by the sweep. (One hash,
not one per hour: the hour comes from the MessageId map, which the script reads itself, so every
key it touches is still known before it runs and a batch costs one round trip.) `wo:fb:totals`
holds the all-time "<metric>|<identity>|<campaign>" counts; each
message's hash `wo:fb:m:<MessageId>` holds its once-per-metric marks and its events (the trace).
The MessageId map (`wo:msgid`) value is "campaign:index|identity|sent_at" (older values
"campaign:index" are read too: identity "-", cohort = the event's hour).
Deferrals and other delivery outcomes are also counted per identity and domain group in the minute
they arrive (`keys.fb_deferrals`), for the deferral-burst backoff (store/deferrals.py).
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from orchestrator.core.addresses import fold
from orchestrator.core.callback_event import BadEventError, CallbackEvent, parse_event
from orchestrator.core.domain_shaping import DEFERRAL_BUCKET_S, outcome_kind
from orchestrator.core.guardrails import MAX_WINDOW_HOURS
from orchestrator.core.quality import ACCEPTED, METRICS, SETTLING, SUPPRESSING, hour_of
from orchestrator.store import keys
from orchestrator.store.scripts import source
from orchestrator.store.stored_values import MAX_WHOLE, BadStoredValueError, moment, whole

MESSAGE_TTL_S: Final = 30 * 86_400  # a message's trace and once-marks
COHORT_KEEP_S: Final = 2 * MAX_WINDOW_HOURS * 3_600  # cohorts: a late metric's two windows (8 days)
PRUNE_EVERY_S: Final = 3_600
EARLY_TTL_S: Final = 3_600  # events whose send is not recorded yet
TRACE_CAP: Final = 64  # events kept per message (counting stays exact past it)
DEFERRAL_TTL_S: Final = 2 * 3600  # a minute's deferral counts: past the longest burst window
UNKNOWN_IDENTITY: Final = "-"


@dataclass(frozen=True, slots=True)
class Sent:
    """What the MessageId map says about a send: campaign, index, identity ("-" unknown), send time."""

    campaign: str
    index: int
    identity: str
    sent_at: float | None


def message_value(campaign: str, index: int, identity: str, sent_at: float) -> str:
    """The MessageId map's value (finish.lua writes the same)."""
    return f"{campaign}:{index}|{identity}|{sent_at!r}"


def parse_sent(value: str) -> Sent | None:
    """A MessageId map value, in either format; None when unreadable."""
    head, _, rest = value.partition("|")
    cid, _, idx = head.rpartition(":")
    identity, _, at = rest.partition("|")
    try:
        index = int(idx)
    except ValueError:
        return None
    try:
        sent_at = moment(at, "send time") if at else None
    except BadStoredValueError:  # a time no date holds: read as the older format without one
        sent_at = None
    return Sent(cid, index, identity or UNKNOWN_IDENTITY, sent_at)


@dataclass(frozen=True, slots=True)
class Counted:
    """What a batch did: counted, duplicates skipped, kept for later (unknown MessageId), suppressions written."""

    counted: int = 0
    duplicates: int = 0
    early: int = 0
    suppressed: int = 0
    refused: int = 0


def _suppression(e: CallbackEvent, now: float) -> tuple[str, str]:
    """(key, JSON) of the suppression an event writes, ("", "") for none."""
    scope = SUPPRESSING.get(e.metric)
    if scope is None:
        return keys.SUPPRESS_ALL, ""
    why = e.reason or e.metric
    if scope == "domain":
        entry = {"reason": why, "at": int(now), "source": "unsubscribe"}
        return keys.suppression(e.from_domain), json.dumps(entry, separators=(",", ":"))
    source_name = "complaint" if e.metric == "complaint" else "hard_bounce"
    entry = {"reason": why, "at": int(now), "source": source_name}
    return keys.SUPPRESS_ALL, json.dumps(entry, separators=(",", ":"))


class FeedbackStore:
    """Counts events and accepted sends; reads the counters back."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._callback = redis.register_script(source("callback"))

    async def ingest(self, events: list[CallbackEvent], now: float) -> Counted:
        """Count a batch atomically; events whose send is not recorded yet are kept for later."""
        ks = [keys.MESSAGE_IDS, keys.FB_TOTALS, keys.FB_UNKNOWN, keys.FB_EARLY, keys.FB_PENDING, keys.FB_COHORTS]
        ks.append(keys.fb_deferrals(int(now // DEFERRAL_BUCKET_S)))
        args: list[Any] = [repr(now), MESSAGE_TTL_S, EARLY_TTL_S, TRACE_CAP, DEFERRAL_TTL_S]
        for e in events:
            supp_key, supp_json = _suppression(e, now)
            ks += [keys.fb_message(e.message_id), keys.fb_early(e.message_id), supp_key]
            args += [
                e.message_id,
                e.metric,
                e.trace_field,
                e.as_json(),
                e.group,
                fold(e.address),  # the suppression's field (core/addresses.fold)
                supp_json,
                "1" if e.metric in SETTLING else "0",
                e.timestamp,
                outcome_kind(e.metric),
            ]
        reply = await self._callback(keys=ks, args=args)
        return Counted(*(int(x) for x in reply))

    async def apply_early(self, message_id: str, now: float) -> int:
        """Count the kept events of `message_id` once its send is known; returns how many were counted."""
        raw = await self.redis.lrange(keys.fb_early(message_id), 0, -1)
        if not await self.redis.hexists(keys.MESSAGE_IDS, message_id):
            return 0
        events = []
        for item in raw:
            try:
                events.append(parse_event(json.loads(item), stored=True))
            except (BadEventError, ValueError):
                continue  # written by this module: only a hand-edited entry can fail, and it is dropped
        counted = await self.ingest(events, now) if events else Counted()
        await self.redis.delete(keys.fb_early(message_id))
        await self.redis.zrem(keys.FB_EARLY, message_id)
        return counted.counted

    async def retry_early(self, now: float, limit: int = 500) -> int:
        """The sweep's pass: apply kept events whose send got recorded; forget those older than EARLY_TTL_S."""
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_early(pipe, now, limit)
            _, ids = await pipe.execute()
        return sum([await self.apply_early(str(m), now) for m in ids])

    async def trace(self, message_id: str) -> list[dict[str, Any]]:
        """The events kept for one message, oldest first (a stored value that is not a JSON object is skipped)."""
        raw = await self.redis.hgetall(keys.fb_message(message_id))
        out = []
        for k, v in raw.items():
            if str(k).startswith("u:"):
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(v)
                if isinstance(event, dict):
                    out.append(event)
        return sorted(out, key=_when)

    async def buckets(self, kind: str, subject: str, hours: Iterable[int]) -> dict[int, dict[str, int]]:
        """Hour -> metric -> count for one subject (`kind` "i" identity, "c" campaign, "g" domain group)."""
        hours = list(hours)
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_buckets(pipe, kind, [subject], hours)
            return parse_buckets([subject], hours, await pipe.execute())[subject]

    async def daily(self, kind: str, subject: str, day: date, zone: ZoneInfo) -> dict[str, int]:
        """Metric -> count of one subject's sends made on a local calendar day (its cohorts of that day)."""
        start = datetime.combine(day, time(), tzinfo=zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).timestamp()
        hours = range(hour_of(start), hour_of(end - 1) + 1)
        out: dict[str, int] = defaultdict(int)
        for metrics in (await self.buckets(kind, subject, hours)).values():
            for metric, count in metrics.items():
                out[metric] += count
        return dict(out)

    async def campaign_hours(self, cid: str) -> dict[int, dict[str, int]]:
        """Every cohort hour of one campaign -> metric -> count (a scan: for reports, not for hot paths)."""
        out: dict[int, dict[str, int]] = defaultdict(dict)
        async for field, count in self.redis.hscan_iter(keys.FB_COHORTS, match=f"*|c|{cid}", count=1000):
            hour, metric, _ = str(field).split("|", 2)
            out[int(hour)][metric] = int(count)
        return dict(out)

    async def prune(self, now: float) -> int:
        """Forget cohorts older than COHORT_KEEP_S (at most once per PRUNE_EVERY_S); returns the fields removed."""
        if not await self.redis.set(keys.FB_PRUNE, repr(now), nx=True, ex=PRUNE_EVERY_S):
            return 0
        oldest = hour_of(now - COHORT_KEEP_S)
        removed = 0
        async for field, _ in self.redis.hscan_iter(keys.FB_COHORTS, count=1000):
            hour = str(field).split("|", 1)[0]
            if not hour.lstrip("-").isdigit() or int(hour) < oldest:
                removed += await self.redis.hdel(keys.FB_COHORTS, field)
        return removed

    async def totals(self) -> dict[tuple[str, str, str], int]:
        """All-time counts: (metric, identity, campaign) -> count."""
        raw = await self.redis.hgetall(keys.FB_TOTALS)
        out = {}
        for field, count in raw.items():
            metric, identity, campaign = str(field).split("|", 2)
            out[metric, identity, campaign] = int(count)
        return out

    async def unknown(self) -> int:
        return int(await self.redis.get(keys.FB_UNKNOWN) or 0)


#: Field names of a subject's hours, already built: the pacer reads every identity's 48 hours x 10
#: metrics each minute, the same names until the hour turns (up to 480 names an entry: kept few).
_FIELDS: dict[tuple[str, str, tuple[int, ...], tuple[str, ...]], list[str]] = {}
_FIELDS_MAX = 128
_NAMES: Final = (ACCEPTED, *METRICS)


def queue_early(pipe: Pipeline, now: float, limit: int = 500) -> None:
    """Queue on `pipe` what `FeedbackStore.retry_early` starts with (two replies: forgotten, the ids kept)."""
    pipe.zremrangebyscore(keys.FB_EARLY, "-inf", f"({now - EARLY_TTL_S}")
    pipe.zrange(keys.FB_EARLY, 0, limit - 1)


def queue_buckets(
    pipe: Pipeline, kind: str, subjects: list[str], hours: list[int], names: tuple[str, ...] = _NAMES
) -> None:
    """Queue on `pipe` the reads `parse_buckets` turns into each subject's hour -> metric -> count, for
    the metrics `names` (every one by default; the guardrails read only those they judge)."""
    span = tuple(hours)
    for subject in subjects:
        fields = _FIELDS.get((kind, subject, span, names))
        if fields is None:
            if len(_FIELDS) >= _FIELDS_MAX:
                _FIELDS.clear()
            fields = _FIELDS[kind, subject, span, names] = [f"{h}|{m}|{kind}|{subject}" for h in hours for m in names]
        pipe.hmget(keys.FB_COHORTS, fields)


def parse_buckets(
    subjects: list[str], hours: list[int], replies: list[Any], names: tuple[str, ...] = _NAMES
) -> dict[str, dict[int, dict[str, int]]]:
    """The replies of `queue_buckets`, in its order: subject -> hour -> metric -> count (hours with none left out)."""
    n = len(names)
    result = {}
    for subject, values in zip(subjects, replies, strict=True):
        if len(values) != n * len(hours):
            msg = f"{len(values)} counts read for {len(hours)} hours of {subject}"
            raise ValueError(msg)
        out: dict[int, dict[str, int]] = {}
        for k, h in enumerate(hours):
            row = zip(names, values[k * n : (k + 1) * n], strict=True)
            counts = {m: whole(v, "quality count", low=-MAX_WHOLE) for m, v in row if v is not None}
            if counts:
                out[h] = counts
        result[subject] = out
    return result


def _when(event: dict[str, Any]) -> tuple[float, str]:
    """An event's order: its time (0 when not a number), then its name."""
    t = event.get("timestamp")
    return (float(t) if isinstance(t, int | float) else 0.0, str(event.get("event", "")))
