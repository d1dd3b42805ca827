"""Status snapshots: a campaign's state, progress and per-identity budgets, read from Redis."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core.budget import budget_now, day_caps
from orchestrator.core.calendar import LocalTime, local_time, start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.campaign_state import UNFINISHED
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.core.eta import estimate_completion
from orchestrator.core.plan import Caps, PoolAllocation, ranks_of
from orchestrator.core.preview import FullPace, minutes_left_on, minutes_on, window_minutes
from orchestrator.core.quality import quality, quality_hours, summary_line
from orchestrator.guarding import judge_identities
from orchestrator.store import campaigns, compaction, group_state, identities, keys
from orchestrator.store.feedback import FeedbackStore
from orchestrator.store.ledger import Ledger
from orchestrator.store.stored_values import MAX_WHOLE, BadStoredValueError, moment, refused, whole


@dataclass
class IdentityStatus:
    id: str
    from_address: str
    warmup_day: int
    sent_today: int
    daily_cap: int
    sent_last_hour: int
    hourly_cap: int
    next_slot: str | None  # ISO time of the next possible send, None when nothing is scheduled
    stopped_until: str | None
    quality: dict[str, Any] = field(default_factory=dict)  # core/quality.py Quality.as_json()
    quality_line: str = ""  # the same, as one line for `status` and `watch`
    guardrails: dict[str, Any] = field(default_factory=dict)  # core/guard.py IdentityGuard.as_json()
    #: Provider groups held or throttled below the identity's caps: per-domain shaping's, and the campaign's
    #: temporary blocks before shaping applies ({group, reason, until (ISO or None), hourly_cap, daily_cap};
    #: store/group_state.py).
    groups: list[dict[str, Any]] = field(default_factory=list)
    account: str = DEFAULT_ACCOUNT  # the Tencent account (key pair) it sends with


@dataclass
class CampaignStatus:
    id: str
    name: str
    state: str
    reason: str
    paused_by: str
    mode: str
    created_at: str
    progress: dict[str, int]
    submit: dict[str, Any]
    identities: list[IdentityStatus] = field(default_factory=list)
    pool_daily_cap: int = 0
    pool_hourly_cap: int = 0
    estimated_completion: str | None = None
    local_date: str = ""
    window_open: bool = True
    quality: dict[str, Any] = field(default_factory=dict)  # core/quality.py Quality.as_json()
    compacted_at: str | None = None  # per-recipient data compacted (store/compaction.py): trace/export say so
    #: Seconds since a pacer last ticked (None: never); `pacer_stalled` for a running campaign whose
    #: pacer has not ticked for PACER_STALE_S: nothing is being granted, whatever "next send" says.
    pacer_tick_age_s: float | None = None
    pacer_stalled: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(ts: float, spec: Campaign) -> str:
    return datetime.fromtimestamp(ts, tz=spec.zone).isoformat(timespec="seconds")


async def _groups(
    redis: Redis,
    spec: Campaign,
    identity: str,
    day: int,
    caps: Caps,
    day_cap: int,
    now: float,
    blocks: group_state.Blocks,
) -> list[dict[str, Any]]:
    """The provider groups held or throttled for one identity (per-domain shaping's, the campaign's `blocks`),
    their `until` as ISO time. `day_cap`: the daily cap its day counts against, which shaping starts on."""
    groups = await group_state.throttled(redis, spec, identity, day, caps, day_cap, now, blocks)
    return [{**g, "until": _iso(g["until"], spec) if g["until"] else None} for g in groups]


#: The counts of CampaignStatus.progress.
PROGRESS_KEYS = ("total", "accepted", "pending", "in_flight", "failed", "suppressed", "in_doubt")
#: The state `status` shows for a stored campaign that cannot be read (its reason says why).
UNREADABLE = "unreadable"


def unreadable_status(bad: campaigns.Unreadable) -> CampaignStatus:
    """A campaign that cannot be read, as a status line: its id, its name when known, and why."""
    return CampaignStatus(
        id=bad.cid,
        name=bad.name,
        state=UNREADABLE,
        reason=bad.reason,
        paused_by="",
        mode="",
        created_at="",
        progress=dict.fromkeys(PROGRESS_KEYS, 0),  # unknown: the same keys, so every view can print it
        submit={},
    )


#: A running campaign whose pacer has not ticked for this long is shown as stalled (it ticks every
#: PACER_INTERVAL_S, 1 s by default; a new leader takes over within its lock's PACER_LOCK_TTL_S, 10 s by
#: default); with a longer interval, three intervals (`stale_after`).
PACER_STALE_S = 30.0


def stale_after(pacer_interval_s: float) -> float:
    """How long without a tick means no pacer runs, for pacers ticking every `pacer_interval_s`."""
    return max(PACER_STALE_S, 3 * pacer_interval_s)


async def pacer_tick_age(redis: Redis, now: float) -> float | None:
    """Seconds since any pacer last ticked, by `now`; None when none ever did (or the value is bad)."""
    raw = await redis.get(keys.PACER_TICK)
    if raw is None:
        return None
    try:
        return round(max(0.0, now - moment(raw, "pacer tick")), 3)
    except BadStoredValueError:
        return None


async def campaign_status(
    redis: Redis, cid: str, now: float, stale_after_s: float = PACER_STALE_S
) -> CampaignStatus | None:
    """The campaign's status at `now`; None when there is no such campaign. A running campaign whose
    pacer has not ticked for `stale_after_s` is marked stalled."""
    status = await _status_of(redis, cid, now)
    if status is not None:
        _mark_pacer(status, await pacer_tick_age(redis, now), stale_after_s)
    return status


def _mark_pacer(status: CampaignStatus, age: float | None, stale_after_s: float) -> None:
    status.pacer_tick_age_s = age
    status.pacer_stalled = status.state == campaigns.State.RUNNING.value and (age is None or age > stale_after_s)


async def _status_of(redis: Redis, cid: str, now: float) -> CampaignStatus | None:
    rec = await campaigns.load(redis, cid)
    if rec is None:
        return None
    if isinstance(rec, campaigns.Unreadable):
        return unreadable_status(rec)
    try:
        gone = await compaction.compacted(redis, [cid])
        at = moment(repr(gone[0].at), "compaction time") if gone else None  # damaged: the campaign is unreadable
        done = gone and at is not None and gone[0].done
        return _compacted_status(rec, at) if done and at is not None else await _readable_status(redis, rec, now)
    except identities.UnreadableIdentityError as exc:  # the campaign cannot be paced until it is fixed
        return unreadable_status(campaigns.unreadable(cid, rec.name, f"identity {exc.identity}: {exc.reason}"))
    except BadStoredValueError as exc:
        return unreadable_status(campaigns.unreadable(cid, rec.name, str(exc)))
    except ResponseError as exc:
        return unreadable_status(campaigns.unreadable(cid, rec.name, refused(exc) or "Redis refused a command"))


def _summary(rec: campaigns.CampaignRecord, **more: Any) -> CampaignStatus:
    """What the campaign's record alone says (state, counts, submit), with the `more` fields given."""
    return CampaignStatus(
        id=rec.cid,
        name=rec.name,
        state=rec.state.value,
        reason=rec.reason,
        paused_by=rec.paused_by,
        mode=rec.spec.mode.value,
        created_at=_iso(rec.created_at, rec.spec),
        progress=_progress(rec),
        submit=rec.submit,
        **more,
    )


def _compacted_status(rec: campaigns.CampaignRecord, at: float) -> CampaignStatus:
    """A compacted campaign: its state, its final counts and when it was compacted. Nothing of it is paced or
    judged any more, and its identities' figures are their other campaigns' (read once per campaign on
    every status, page and scrape, they made a store of many old campaigns slow to show)."""
    return _summary(rec, compacted_at=_iso(at, rec.spec))


async def _readable_status(redis: Redis, rec: campaigns.CampaignRecord, now: float) -> CampaignStatus:
    """The status of a campaign whose record was read; raises when one of its identities cannot be."""
    cid, spec = rec.cid, rec.spec
    ids = rec.identities
    states = await identities.load_rolled(redis, spec, now)
    lt, days, alloc = budget_now(spec, states, now)
    counted = [c.daily for c in day_caps(spec, states, now).identities]  # what shaping starts on, as the pacer
    today = lt.date.isoformat()
    status = _summary(
        rec,
        pool_daily_cap=alloc.pool.daily,
        pool_hourly_cap=alloc.pool.hourly,
        local_date=today,
        window_open=lt.window_open,
    )
    counters = [await _identity_counters(redis, ident.id, today, now) for ident in spec.identities]
    pool_sent = sum(c[0] for c in counters)  # the pool's day: its identities' sends, every campaign's
    not_started = spec.start is not None and lt.date < spec.start
    blocks = await group_state.campaign_blocks(redis, cid, ids, now)
    waiting_from = await _first_waiting(redis, cid, now)
    for n, ident in enumerate(spec.identities):
        sent_today, last_hour, tat = counters[n]
        st = states.get(ident.id)
        stopped = st.stopped_until if st and st.stopped_until > now else None
        next_slot = None
        if rec.state.value == "running" and status.progress["pending"]:
            day_full = sent_today >= alloc.identities[n].daily or pool_sent >= alloc.pool.daily
            next_slot = _next_slot(spec, lt, tat, now, not_started, day_full, max(stopped or 0.0, waiting_from))
        status.identities.append(
            IdentityStatus(
                id=ident.id,
                from_address=ident.from_,
                warmup_day=days[n],
                sent_today=sent_today,
                daily_cap=alloc.identities[n].daily,
                sent_last_hour=last_hour,
                hourly_cap=alloc.identities[n].hourly,
                next_slot=next_slot,
                stopped_until=None if stopped is None else _iso(stopped, spec),
                groups=await _groups(redis, spec, ident.id, days[n], alloc.identities[n], counted[n], now, blocks),
                account=ident.account,
            )
        )
    if rec.state in UNFINISHED:  # a cancelled or completed campaign sends nothing more
        pool_left, by_end = _left_today(
            spec, alloc, pool_sent, [i.sent_today for i in status.identities], not_started, now
        )
        remaining = status.progress["pending"] + status.progress["in_flight"]
        first_day = spec.start if spec.start is not None and not_started else lt.date
        quotas = [states[i].quota if i in states else None for i in ids]
        rules = spec.plan.progress_rules(spec.mode)
        pace = FullPace(spec.build_plan(), spec.mode, quotas, spec.pool.multiplier, rules, ranks_of(ids))
        today_sends = None if not_started else by_end
        eta = estimate_completion(
            pace, days, remaining, pool_left, first_day, lambda d: minutes_on(spec, d), today_sends
        )
        status.estimated_completion = eta.isoformat() if isinstance(eta, date) else None
    await _add_quality(redis, status, spec, now)
    return status


def _left_today(
    spec: Campaign, alloc: PoolAllocation, pool_sent: int, sent: list[int], not_started: bool, now: float
) -> tuple[int, list[int]]:
    """What the campaign may still send today: each identity its daily cap less what it sent (`sent`), and
    no more than its hourly cap over the sending window's time left today; the pool no more than its own
    caps allow the same way (a start day still ahead is a whole day). And what each identity will have
    sent by the day's end that way (the figure its day counts on)."""
    if not_started:
        minutes, sent, pool_sent = window_minutes(spec.window), [0] * len(sent), 0
    else:
        minutes = minutes_left_on(spec, now)
    left = [max(0, min(c.daily - n, c.hourly * minutes // 60)) for c, n in zip(alloc.identities, sent, strict=True)]
    by_end = [n + k for n, k in zip(sent, left, strict=True)]
    return min(sum(left), alloc.pool.daily - pool_sent, alloc.pool.hourly * minutes // 60), by_end


async def _add_quality(redis: Redis, status: CampaignStatus, spec: Campaign, now: float) -> None:
    """The rolling quality figures of the campaign and of each of its identities, on the campaign's guardrails."""
    store = FeedbackStore(redis)
    g = spec.guardrails
    window_s = g.window_hours * 3600
    lines = {line.metric: line for line in g.lines(spec.content)}
    hours = quality_hours(now, window_s)
    status.quality = quality(await store.buckets("c", status.id, hours), now, window_s, lines, g.confidence_z).as_json()
    # The pacer's own verdicts (after an acknowledged pause, only the sends from the next whole hour):
    # the quality line flags what they say, not its own judging of the whole window.
    guards = await judge_identities(redis, status.id, spec, [i.id for i in status.identities], now)
    for ident in status.identities:
        q = quality(await store.buckets("i", ident.id, hours), now, window_s, lines, g.confidence_z)
        guard = guards[ident.id]
        ident.quality, ident.guardrails = q.as_json(), guard.as_json()
        ident.quality_line = summary_line(q, {m: v.level for m, v in guard.verdicts.items()})


async def _identity_counters(redis: Redis, identity_id: str, today: str, now: float) -> tuple[int, int, float]:
    """(sent today, sent in the last hour, the theoretical arrival time of its next slot, 0 if none) of one identity."""
    ik = keys.IdentityKeys(identity_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(ik.day(today))
        pipe.zcount(ik.hour, f"({now - 3600}", "+inf")
        pipe.hget(ik.gcra, "tat")
        replies = await pipe.execute(raise_on_error=False)
    why = next((w for w in map(refused, replies) if w), None)
    try:
        if why is not None:
            raise BadStoredValueError(why)
        sent_today, last_hour, tat = replies
        return whole(sent_today, "count of today", low=-MAX_WHOLE), int(last_hour), moment(tat, "next slot")
    except BadStoredValueError as exc:
        raise identities.UnreadableIdentityError(identity_id, str(exc)) from None


def _progress(rec: campaigns.CampaignRecord) -> dict[str, int]:
    """The ledger's counts under the names `status` shows (PROGRESS_KEYS)."""
    c = rec.counts
    return {
        "total": rec.submit.get("valid", sum(c.values())),
        "accepted": c["accepted"],
        "pending": c["queued"],
        "in_flight": c["granted"] + c["inflight"],
        "failed": c["failed"],
        "suppressed": c["suppressed"],
        "in_doubt": c["in_doubt"],
    }


async def _first_waiting(redis: Redis, cid: str, now: float) -> float:
    """The first moment one of the campaign's pending recipients may be granted: `now` while one waits in
    its queue or is held back by the domain share (a group the share holds goes at once when no other
    mail waits), or none waits anywhere; else the soonest end of a backoff or a domain's block (`later`)."""
    ck = keys.CampaignKeys(cid)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.llen(ck.queue)
        pipe.zcard(ck.held)
        pipe.zrange(ck.later, 0, 0, withscores=True)
        queued, held, later = await pipe.execute()
    if queued or held or not later:
        return now
    return max(now, moment(repr(float(later[0][1])), "retry time"))


def _next_slot(
    spec: Campaign, lt: LocalTime, tat: float, now: float, not_started: bool, day_full: bool, stopped_until: float
) -> str:
    """When a running identity may send next: its pacing slot, or the end of its stop for the day or of the
    wait of every pending recipient (`stopped_until`: the pacer grants it nothing before), moved to the
    window's opening when the window is closed then; with its day's cap (or the pool's) used up
    (`day_full`), no sooner than the window's opening tomorrow; before the campaign's start, no sooner
    than the start day's opening."""
    slot = max(tat, now)
    if not lt.window_open:
        slot = now + lt.window_change_s
    if stopped_until > slot:
        slot = _opening_from(spec, stopped_until)
    if day_full:
        slot = max(slot, _opening_from(spec, now + lt.to_midnight_s))
    if not_started and spec.start is not None:
        slot = max(slot, _opening_from(spec, start_of(spec.start, spec.zone)))
    return _iso(slot, spec)


def _opening_from(spec: Campaign, at: float) -> float:
    """`at`, or the sending window's next opening when it is closed then."""
    opening = local_time(at, spec.zone, spec.window)
    return at + (0.0 if opening.window_open else opening.window_change_s)


async def all_status(
    redis: Redis, now: float, stale_after_s: float = PACER_STALE_S, ids: list[str] | None = None
) -> list[CampaignStatus]:
    """The status of every campaign, or of `ids` (`campaigns.listed`)."""
    age = await pacer_tick_age(redis, now)  # one pacer for every campaign: read once
    out = []
    for cid in ids if ids is not None else await campaigns.all_ids(redis):
        st = await _status_of(redis, cid, now)
        if st is not None:
            _mark_pacer(st, age, stale_after_s)
            out.append(st)
    return out


async def in_doubt_rows(redis: Redis, cid: str) -> list[dict[str, object]]:
    """Every recipient of `cid` the provider's status could not settle: index, address, since, identity."""
    rec = await campaigns.get(redis, cid)
    if rec is None:
        return []
    rows = await compaction.kept_in_doubt(redis, cid)  # once compacted, the ledger is gone
    if rows is None:
        rows = await Ledger(redis).in_doubt(keys.CampaignKeys(cid), int(rec.submit.get("valid", 0)))
    return [{"index": i, "address": a, "since": _since(t, rec.spec.zone), "identity": d} for i, a, t, d in rows]


def _since(t: float, zone: ZoneInfo) -> str:
    try:
        return datetime.fromtimestamp(t, tz=zone).isoformat()
    except (ValueError, OverflowError, OSError):
        return "unknown"
