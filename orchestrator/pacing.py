"""Pacing: each tick loads the running campaigns and their identities, decides the budgets, and grants.

The limiter (store/limiter.py) grants atomically and writes the send jobs; the loop that ticks,
its leader lock and the sweeper live on the arq side (workers/pacer.py, workers/sweep.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core import decisions
from orchestrator.core.account_rate import AccountRate
from orchestrator.core.budget import budget_now, day_caps
from orchestrator.core.calendar import LocalTime, local_time, start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import Clock, SystemClock
from orchestrator.core.ledger_state import STATES
from orchestrator.core.plan import Caps
from orchestrator.core.progress import effective_day
from orchestrator.core.quality import FOLLOWUP_AFTER_S
from orchestrator.core.sending import Sender
from orchestrator.day_roll import roll_day
from orchestrator.guarding import Guard
from orchestrator.ses.errors import SesBudgetError, SesError
from orchestrator.store import campaigns, events, group_state, identities, keys, layout
from orchestrator.store.campaigns import State
from orchestrator.store.identities import IdentityState
from orchestrator.store.ledger import Ledger
from orchestrator.store.limiter import GrantResult, JobQueue, Limiter, Limits, NotLeaderError
from orchestrator.store.scripts import Scripts, as_str_list
from orchestrator.store.stored_values import BadStoredValueError, refused

log = structlog.get_logger("orchestrator.pacer")

#: How long a granted send may wait for a worker before the sweeper enqueues its job again.
GRANT_DEADLINE_S = 120.0
#: A finished campaign keeps its per-recipient data this long (store/compaction.py).
COMPLETED_RETENTION_S = 30 * 86400.0
#: How often Tencent's live daily quota of each sender domain is read (ListEmailIdentities).
QUOTA_REFRESH_S = 1800.0
#: SendEmail's share of the account's API rate as the budget spaces it (core/account_rate.py).
SEND_RATE_PER_S = AccountRate().send_slots_per_s


@dataclass
class PacerConfig:
    #: SendEmail's share of the account's API rate: the grants never get ahead of what may be sent.
    account_rate_per_s: float = SEND_RATE_PER_S
    max_grants_per_call: int = 200
    catchup_s: float = 2.0
    grant_deadline_s: float = GRANT_DEADLINE_S
    reconcile_window_s: float = decisions.RECONCILE_WINDOW_S
    reconcile_after_s: float = decisions.FIRST_RECONCILE_AFTER_S  # the first status lookup of a doubt waits this long
    reconcile_retry_s: float = decisions.RECONCILE_RETRY_S
    reconcile_throttled_retry_s: float = decisions.RECONCILE_THROTTLED_RETRY_S
    followup_after_s: float = FOLLOWUP_AFTER_S  # delivery follow-up of sends with no delivery event (0: off)
    completed_retention_s: float = COMPLETED_RETENTION_S  # a finished campaign is compacted after this long


@dataclass
class TickReport:
    granted: int = 0
    wait_s: float = -1.0  # the soonest anything could be granted again; < 0 when nothing waits
    by_identity: dict[str, int] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)

    def wait_for(self, seconds: float) -> None:
        if seconds >= 0 and (self.wait_s < 0 or seconds < self.wait_s):
            self.wait_s = seconds


class Pacer:
    """One tick: for every running campaign and identity, grant what may start now and enqueue it."""

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        config: PacerConfig | None = None,
        sender: Sender | None = None,
        wall: Clock | None = None,
        *,
        jobs: JobQueue,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.wall = wall or SystemClock()
        self.config = config or PacerConfig()
        self.scripts = Scripts(redis)
        self.ledger = Ledger(redis, self.scripts)
        self.limiter = Limiter(self.scripts, jobs)
        self.sender = sender
        self._rotation = 0
        self._last_hour: dict[str, tuple[str, int]] = {}
        self._quota_read_at = float("-inf")
        self._unreadable: set[str] = set()  # campaigns already reported unreadable
        self._layout_checked = False
        self._deferral_minutes: dict[int, dict[Any, Any]] = {}
        self.guard = Guard(redis)
        self._users: dict[str, list[str]] = {}  # identity -> the campaigns that may send through it, this tick
        self._last_taker: dict[str, str] = {}  # identity -> the campaign its last grant went to
        self._offered: dict[str, set[str]] = {}  # identity -> the campaigns offered it this tick
        self._later: list[tuple[str, Callable[[], Awaitable[Any]]]] = []  # grants held to the tick's end

    async def tick(self) -> TickReport:
        now = self.clock.now()
        report = TickReport()
        self._deferral_minutes = {}  # the deferral counts' minute hashes this tick read (one read for all identities)
        self.limiter.new_tick()
        if not self._layout_checked:  # a Redis written by an older release: once, before the first grant
            folded = await layout.upgrade(self.redis)
            self._layout_checked = True
            if folded:
                log.info("store_layout_upgraded", keys=folded)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.PACER_TICK, repr(now))  # /healthz and /metrics show its age
            pipe.zrange(keys.CAMPAIGNS, 0, -1)
            _, every = await pipe.execute()
        cids = await campaigns.running_among(self.redis, [str(c) for c in every])
        if cids and now - self._quota_read_at >= QUOTA_REFRESH_S:
            self._quota_read_at = now
            await self.refresh_quotas()
        try:
            await self._tick_campaigns(cids, now, report)
        except NotLeaderError:  # the lock lapsed mid-tick and another pacer leads: it grants from here
            log.warning("pacer_grant_fenced", at=now)
        # The turn moves on a grant, not a tick: moved every tick, ticks in step with an identity's
        # slots gave every slot to the same campaign.
        self._rotation += report.granted > 0
        return report

    async def _tick_campaigns(self, cids: list[str], now: float, report: TickReport) -> None:
        states: dict[str, IdentityState] = {}
        k = self._rotation % len(cids) if cids else 0  # campaigns on one account (or identity) take turns first
        recs = [r for c in cids[k:] + cids[:k] if (r := await self.load_campaign(c)) and r.state is State.RUNNING]
        senders = [r for r in recs if _may_send(r.spec, now)]  # their waiting mail holds another's domain share
        self._users = {i: [r.cid for r in senders if i in r.identities] for rec in senders for i in rec.identities}
        self._offered, self._later = {}, []
        for rec in recs:
            await self._guarded(rec.cid, lambda rec=rec: self._tick_campaign(rec, now, states, report))
        for cid, grant in self._later:  # an identity's last taker, after the others had their turn at it
            await self._guarded(cid, grant)

    async def _guarded(self, cid: str, step: Callable[[], Awaitable[Any]]) -> None:
        """Run one campaign's part of the tick; a campaign that cannot be read is skipped, the others go on."""
        try:
            await step()
        except identities.UnreadableIdentityError as exc:  # only the campaigns using it wait
            self._skip(cid, f"identity {exc.identity}: {exc.reason}")
        except ValueError as exc:  # a stored value that does not parse (BadStoredValueError names it)
            self._skip(cid, str(exc) if isinstance(exc, BadStoredValueError) else "a stored value cannot be read")
        except ResponseError as exc:  # a key of the campaign or an identity holds another type
            self._skip(cid, refused(exc) or "Redis refused a command")
        else:
            self._unreadable.discard(cid)  # readable again: a new failure is reported again

    def _defers(self, cid: str, identity: str) -> bool:
        """Whether `cid` waits for the end of the tick to be offered `identity`: it took the identity's last
        grant and another campaign that may send through it has not had its turn this tick. (A turn of all
        campaigns moved by the grants of every identity kept one campaign first at each slot of another.)"""
        offered = self._offered.setdefault(identity, set())
        offered.add(cid)
        others = [c for c in self._users.get(identity, []) if c not in offered]
        return bool(others) and self._last_taker.get(identity) == cid

    async def load_campaign(self, cid: str) -> campaigns.CampaignRecord | None:
        """A campaign's record; None (and one warning per campaign) when it cannot be read: others go on."""
        try:
            rec = await campaigns.get(self.redis, cid)
        except campaigns.UnreadableCampaignError as exc:
            self._skip(cid, exc.unreadable.reason)
            return None
        return rec

    def _skip(self, cid: str, reason: str) -> None:
        """Warn once that `cid` is skipped while it cannot be read (again once it was readable in between)."""
        if cid not in self._unreadable:
            self._unreadable.add(cid)
            log.warning("campaign_unreadable", campaign=cid, reason=campaigns.unreadable(cid, cid, reason).reason)

    async def refresh_quotas(self) -> None:
        """Read every identity's current daily quota from Tencent (a new domain starts at 500 a day)."""
        list_identities = getattr(self.sender, "list_identities", None)
        if list_identities is None:
            return
        ids = sorted(str(i) for i in await self.redis.smembers(keys.IDENTITIES))
        states, _ = await identities.load_readable(self.redis, ids)  # the tick warns of the others
        by_account: dict[str, list[IdentityState]] = {}
        for st in states.values():
            by_account.setdefault(st.account, []).append(st)
        for account, members in by_account.items():
            try:
                listing = await list_identities(account)
            except SesBudgetError as exc:  # not called: the account's API budget had no slot soon enough
                wait_s = exc.defer_s or 0.0
                log.info("quota_read_deferred", account=account, retry_after_s=round(wait_s, 3))
                self._quota_read_at = min(self._quota_read_at, self.clock.now() - QUOTA_REFRESH_S + wait_s)
                continue
            except SesError as exc:
                log.warning("quota_read_failed", account=account, error=str(exc))
                continue
            for st in members:
                found = listing.find(st.domain)
                if found is not None and found.daily_quota > 0 and found.daily_quota != st.live_quota:
                    await identities.set_live_quota(self.redis, st.id, found.daily_quota, found.reputation_level)
                    log.info("quota_read", identity=st.id, daily_quota=found.daily_quota, level=found.reputation_level)

    async def _tick_campaign(
        self, rec: campaigns.CampaignRecord, now: float, states: dict[str, IdentityState], report: TickReport
    ) -> None:
        spec = rec.spec
        lt = local_time(now, spec.zone, spec.window)
        ck = keys.CampaignKeys(rec.cid)
        await self._hour_summary(rec, lt, now)  # before anything that ends the tick early (window closed)
        if await self._maybe_complete(rec, ck, lt, now, report):
            return
        if spec.start is not None and lt.date < spec.start:
            report.wait_for(start_of(spec.start, spec.zone) - now)
            return
        if not lt.window_open:
            report.wait_for(lt.window_change_s)
            return
        ids = rec.identities
        missing = [i for i in ids if i not in states]
        if missing:
            states.update(await identities.load_many(self.redis, missing))
        today = lt.date.isoformat()
        roll_due = any(states[i].open_date and states[i].open_date < today for i in ids)
        guards = await self.guard.check(rec, now, today, force=roll_due)  # always judged before a day roll
        if guards is None:  # a pause line crossed: the campaign paused itself
            return
        if roll_due:
            rolling = {i: states[i].open_date for i in ids if states[i].open_date and states[i].open_date < today}
            guards = await self.guard.for_day_roll(rec, now, rolling)
        for i in ids:
            states[i] = await roll_day(self.redis, states[i], spec, lt.date, now, guards.get(i))
        _, _, alloc = budget_now(spec, states, now)
        plain = day_caps(spec, states, now)  # what each identity's day counts against
        share = spec.shaping.max_domain_share if spec.mode.value == "warmup" else 0.0
        order = list(range(len(ids)))
        k = self._rotation % len(ids)
        order = order[k:] + order[:k]
        for n in order:
            caps = (alloc.identities[n], plain.identities[n].daily)
            grant = partial(self._grant_identity, rec, ck, ids[n], caps, alloc.pool, share, lt, states, now, report)
            if self._defers(rec.cid, ids[n]):
                self._later.append((rec.cid, grant))
            elif not await grant():
                return

    async def _grant_identity(
        self,
        rec: campaigns.CampaignRecord,
        ck: keys.CampaignKeys,
        identity: str,
        own: tuple[Caps, int],
        pool: Caps,
        share: float,
        lt: LocalTime,
        states: dict[str, IdentityState],
        now: float,
        report: TickReport,
    ) -> bool:
        """Grant what one identity may send now for one campaign; False when the campaign stopped. `own`:
        its caps now, and the daily cap its day counts against (without Tencent's quota: `budget_now`)."""
        state, (caps, day_cap) = states[identity], own
        if state.stopped_until > now:
            report.wait_for(state.stopped_until - now)
            return True
        today = lt.date.isoformat()
        if state.open_date != today or state.open_cap != day_cap:
            await identities.save_progress(self.redis, identity, state.progress, today, day_cap)
            states[identity] = state = await identities.load(self.redis, identity) or state
        day = effective_day(state.progress, lt.date, rec.spec.plan.progress_rules(rec.spec.mode))
        minutes = self._deferral_minutes
        limits = Limits(
            groups=await group_state.shaping_limits(
                self.redis, rec.cid, rec.spec, identity, day, caps, now, minutes, day_cap
            ),
            identity=caps,
            pool=pool,
            account_interval_s=1.0 / self.config.account_rate_per_s,
            account_burst=max(1, int(self.config.account_rate_per_s)),
            catchup_s=self.config.catchup_s,
            domain_share=share,
        )
        result = await self.limiter.grant(
            ck,
            identity,
            state.account,
            now,
            self.config.max_grants_per_call,
            limits,
            today,
            lt.hour,
            lt.to_midnight_s,
            self.config.grant_deadline_s,
            wall_now=self.wall.now(),
            quota=state.quota,
            peers=rec.identities,
            rivals=[c for c in self._users.get(identity, []) if c != rec.cid],
        )
        if result.grants:
            self._last_taker[identity] = rec.cid
        return _noted(report, identity, result, lt)

    async def _hour_summary(
        self, rec: campaigns.CampaignRecord, lt: LocalTime, now: float, closing: bool = False
    ) -> None:
        """When a campaign's local hour turns, sum up the hour that ended (an event, and a progress line in
        the log); `closing`: the campaign completed, so the hour under way too (no later tick would)."""
        key = (lt.date.isoformat(), lt.hour)
        previous = self._last_hour.pop(rec.cid, None) if closing else self._last_hour.get(rec.cid)
        if not closing:
            self._last_hour[rec.cid] = key
        day, hour = key if closing else previous or key
        if closing or previous not in (None, key):
            done = await events.hour_summary(self.redis, rec.cid, rec.identities, rec.counts, day, hour, now)
            if done is not None:
                log.info("hour_summary", campaign=rec.cid, **done)

    async def _maybe_complete(
        self, rec: campaigns.CampaignRecord, ck: keys.CampaignKeys, lt: LocalTime, now: float, report: TickReport
    ) -> bool:
        c = rec.counts
        if c["queued"] or c["granted"] or c["inflight"]:
            return False
        # `rec.counts` was read earlier: a late finish may since have moved a send from in doubt back
        # to the queue. Counts, doubts and the state change are checked and made in one atomic step.
        reason = "every recipient has an outcome"
        reply = as_str_list(
            await self.scripts.complete(keys=[ck.meta, ck.counts, ck.doubt], args=[reason, repr(now), *STATES])
        )
        if reply[0] == "busy":
            return False
        if reply[0] == "ok":
            with contextlib.suppress(ValueError, ResponseError):  # a damaged hour count costs only the summary
                await self._hour_summary(rec, lt, now, closing=True)
            await events.emit(self.redis, now, "campaign_completed", rec.cid, reason=reason, was=State.RUNNING.value)
            report.completed.append(rec.cid)
            counts = dict(zip(STATES, (int(v) for v in reply[1:]), strict=True))
            await events.emit(self.redis, now, "campaign_counts", rec.cid, counts=counts)
        return True


def _may_send(spec: Campaign, now: float) -> bool:
    """Whether a running campaign may send at `now`: started, its sending window open."""
    lt = local_time(now, spec.zone, spec.window)
    return lt.window_open and (spec.start is None or lt.date >= spec.start)


def _noted(report: TickReport, identity: str, result: GrantResult, lt: LocalTime) -> bool:
    """Add one grant call's result to the tick's report; False when the campaign stopped."""
    if result.grants:
        report.granted += len(result.grants)
        report.by_identity[identity] = report.by_identity.get(identity, 0) + len(result.grants)
    if result.reason == "not_running":
        return False
    if result.reason == "want_met":
        report.wait_for(0.0)
    elif result.wait_s >= 0:
        report.wait_for(result.wait_s)
    if result.reason in ("identity_day", "pool_day", "no_budget", "tencent_quota"):
        report.wait_for(min(lt.to_midnight_s, lt.window_change_s))
    return True
