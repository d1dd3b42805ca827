"""The pacer: just-in-time grants from the atomic limiter, turned into send jobs; plus the sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import structlog
from redis.asyncio import Redis

from orchestrator.clock import SystemClock
from orchestrator.core.budget import budget_now
from orchestrator.core.calendar import LocalTime, local_time, start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import Clock
from orchestrator.core.plan import Caps
from orchestrator.core.progress import close_day, effective_day
from orchestrator.core.sending import LookupVerdict, Sender, StatusQuery
from orchestrator.jobs import enqueue_sends
from orchestrator.ses.errors import SesError
from orchestrator.settings import Settings
from orchestrator.store import campaigns, events, identities, keys
from orchestrator.store.campaigns import State
from orchestrator.store.identities import IdentityState
from orchestrator.store.ledger import STATES, Ledger, Limits
from orchestrator.store.scripts import Scripts, as_str_list

log = structlog.get_logger("orchestrator.pacer")

#: How long a granted send may wait for a worker before the sweeper enqueues its job again.
GRANT_DEADLINE_S = 120.0
#: How often Tencent's live daily quota of each sender domain is read (ListEmailIdentities).
QUOTA_REFRESH_S = 1800.0
#: How long an undecided in-doubt send is looked up again before it is left for the operator.
RECONCILE_WINDOW_S = 6 * 3600.0
#: An undecided lookup is asked again after this long; a throttled or unconnected one much sooner.
RECONCILE_RETRY_S = 60.0
RECONCILE_THROTTLED_RETRY_S = 5.0


@dataclass
class PacerConfig:
    #: SendEmail's share of the account's API rate: the grants never get ahead of what may be sent.
    account_rate_per_s: float = 16.0
    max_grants_per_call: int = 200
    catchup_s: float = 2.0
    grant_deadline_s: float = GRANT_DEADLINE_S
    reconcile_window_s: float = RECONCILE_WINDOW_S
    reconcile_after_s: float = 60.0  # the first status lookup of an expired lease waits this long
    reconcile_retry_s: float = RECONCILE_RETRY_S
    reconcile_throttled_retry_s: float = RECONCILE_THROTTLED_RETRY_S

    @classmethod
    def from_settings(cls, settings: Settings) -> PacerConfig:
        """The pacer's configuration from the process settings (`pacer`, `up`)."""
        return cls(
            account_rate_per_s=settings.account_rate().send_per_s,
            catchup_s=2 * settings.pacer_interval_s,
            reconcile_after_s=settings.reconcile_after_s,
            reconcile_retry_s=settings.reconcile_retry_s,
            reconcile_throttled_retry_s=settings.reconcile_throttled_retry_s,
            reconcile_window_s=settings.reconcile_window_s,
        )


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
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.wall = wall or SystemClock()
        self.config = config or PacerConfig()
        self.scripts = Scripts(redis)
        self.ledger = Ledger(redis, self.scripts)
        self.sender = sender
        self._rotation = 0
        self._last_hour: dict[str, tuple[str, int]] = {}
        self._quota_read_at = float("-inf")
        self._unreadable: set[str] = set()  # campaigns already reported unreadable

    async def tick(self) -> TickReport:
        now = self.clock.now()
        report = TickReport()
        self._rotation += 1
        cids = await campaigns.running_ids(self.redis)
        if cids and now - self._quota_read_at >= QUOTA_REFRESH_S:
            self._quota_read_at = now
            await self.refresh_quotas()
        states: dict[str, IdentityState] = {}
        for cid in cids:
            rec = await self._load(cid)
            if rec is None or rec.state is not State.RUNNING:
                continue
            await self._tick_campaign(rec, now, states, report)
        return report

    async def _load(self, cid: str) -> campaigns.CampaignRecord | None:
        """A campaign's record; None (and one warning per campaign) when it cannot be read: others go on."""
        try:
            rec = await campaigns.get(self.redis, cid)
        except campaigns.UnreadableCampaignError as exc:
            if cid not in self._unreadable:
                self._unreadable.add(cid)
                log.warning("campaign_unreadable", campaign=cid, reason=exc.unreadable.reason)
            return None
        self._unreadable.discard(cid)
        return rec

    async def refresh_quotas(self) -> None:
        """Read every identity's current daily quota from Tencent (a new domain starts at 500 a day)."""
        list_identities = getattr(self.sender, "list_identities", None)
        if list_identities is None:
            return
        ids = sorted(str(i) for i in await self.redis.smembers(keys.IDENTITIES))
        states = await identities.load_many(self.redis, ids)
        by_account: dict[str, list[IdentityState]] = {}
        for st in states.values():
            by_account.setdefault(st.account, []).append(st)
        for account, members in by_account.items():
            try:
                listing = await list_identities(account)
            except SesError as exc:
                log.warning("quota_read_failed", account=account, error=str(exc))
                continue
            for st in members:
                found = listing.find(st.domain)
                if found is not None and found.daily_quota > 0 and found.daily_quota != st.live_quota:
                    await identities.set_live_quota(self.redis, st.id, found.daily_quota, found.reputation_level)
                    log.info("quota_read", identity=st.id, daily_quota=found.daily_quota, level=found.reputation_level)

    async def _roll_day(self, state: IdentityState, spec: Campaign, today: date, now: float) -> IdentityState:
        """Close the identity's open day once its local date has passed (day advance or hold)."""
        if not state.open_date or state.open_date >= today.isoformat():
            return state
        rules = spec.plan.progress_rules(spec.mode)
        sent = await identities.sent_on(self.redis, state.id, state.open_date)
        before = state.progress
        after = close_day(before, date.fromisoformat(state.open_date), sent, state.open_cap, rules)
        await identities.save_progress(self.redis, state.id, after, today.isoformat(), 0)
        if sent > 0:
            etype = (
                "day_advanced"
                if after.warmup_day > effective_day(before, date.fromisoformat(state.open_date), rules)
                else "day_held"
            )
            await events.emit(
                self.redis,
                now,
                etype,
                "",
                state.id,
                date=state.open_date,
                sent=sent,
                daily_cap=state.open_cap,
                warmup_day=after.warmup_day,
            )
        refreshed = await identities.load(self.redis, state.id)
        assert refreshed is not None
        return refreshed

    async def _tick_campaign(
        self, rec: campaigns.CampaignRecord, now: float, states: dict[str, IdentityState], report: TickReport
    ) -> None:
        spec = rec.spec
        lt = local_time(now, spec.zone, spec.window)
        ck = keys.CampaignKeys(rec.cid)
        if await self._maybe_complete(rec, ck, now, report):
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
        for i in ids:
            states[i] = await self._roll_day(states[i], spec, lt.date, now)
        _, _, alloc = budget_now(spec, states, now)
        share = spec.shaping.max_domain_share if spec.mode.value == "warmup" else 0.0
        order = list(range(len(ids)))
        k = self._rotation % len(ids)
        order = order[k:] + order[:k]
        await self._hour_summary(rec, lt, now)
        for n in order:
            if not await self._grant_identity(
                rec, ck, ids[n], alloc.identities[n], alloc.pool, share, lt, states, now, report
            ):
                return

    async def _grant_identity(
        self,
        rec: campaigns.CampaignRecord,
        ck: keys.CampaignKeys,
        identity: str,
        caps: Caps,
        pool: Caps,
        share: float,
        lt: LocalTime,
        states: dict[str, IdentityState],
        now: float,
        report: TickReport,
    ) -> bool:
        """Grant what one identity may send now for one campaign; False when the campaign stopped."""
        state = states[identity]
        if state.stopped_until > now:
            report.wait_for(state.stopped_until - now)
            return True
        today = lt.date.isoformat()
        if state.open_date != today or state.open_cap != caps.daily:
            await identities.save_progress(self.redis, identity, state.progress, today, caps.daily)
            states[identity] = state = await identities.load(self.redis, identity) or state
        limits = Limits(
            identity=caps,
            pool=pool,
            account_interval_s=1.0 / self.config.account_rate_per_s,
            account_burst=max(1, int(self.config.account_rate_per_s)),
            catchup_s=self.config.catchup_s,
            domain_share=share,
        )
        result = await self.ledger.grant(
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
        )
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

    async def _hour_summary(self, rec: campaigns.CampaignRecord, lt: LocalTime, now: float) -> None:
        """When a campaign's local hour turns, log what each identity sent in the hour that ended."""
        key = (lt.date.isoformat(), lt.hour)
        previous = self._last_hour.get(rec.cid)
        self._last_hour[rec.cid] = key
        if previous is None or previous == key:
            return
        day, hour = previous
        counts = await self.redis.hgetall(keys.CampaignKeys(rec.cid).hours_prefix + day)
        sent = {i: int(counts.get(f"{i}|{hour:02d}", 0)) for i in rec.identities}
        if any(sent.values()):
            c = rec.counts
            await events.emit(
                self.redis,
                now,
                "hour_summary",
                rec.cid,
                date=day,
                hour=f"{hour:02d}:00",
                granted=sent,
                accepted=c["accepted"],
                pending=c["queued"],
                failed=c["failed"],
                in_doubt=c["in_doubt"],
            )

    async def _maybe_complete(
        self, rec: campaigns.CampaignRecord, ck: keys.CampaignKeys, now: float, report: TickReport
    ) -> bool:
        c = rec.counts
        if c["queued"] or c["granted"] or c["inflight"]:
            return False
        # `rec.counts` was read earlier: a late finish may since have moved a send from in doubt back
        # to the queue. Counts, doubts and the state change are checked and made in one atomic step.
        reason = "every recipient has an outcome"
        reply = as_str_list(
            await self.redis.eval(_COMPLETE, 3, ck.meta, ck.counts, ck.doubt, reason, repr(now), *STATES)
        )
        if reply[0] == "busy":
            return False
        if reply[0] == "ok":
            await events.emit(self.redis, now, "campaign_completed", rec.cid, reason=reason, was=State.RUNNING.value)
            report.completed.append(rec.cid)
            counts = dict(zip(STATES, (int(v) for v in reply[1:]), strict=True))
            await events.emit(self.redis, now, "campaign_counts", rec.cid, counts=counts)
        return True

    async def sweep(self) -> dict[str, int]:
        """Re-enqueue grants whose job was lost; park expired leases in doubt; reconcile doubts."""
        now = self.clock.now()
        stats = {
            "regranted": 0,
            "parked": 0,
            "reconciled_sent": 0,
            "reconciled_not_sent": 0,
            "left_in_doubt": 0,
        }
        for cid in await campaigns.all_ids(self.redis):
            ck = keys.CampaignKeys(cid)
            overdue = await self.redis.zrangebyscore(ck.inflight, "-inf", now, start=0, num=1000)
            regrants: list[tuple[int, str]] = []
            for raw in overdue:
                idx = int(raw)
                reconcile_at = now + self.config.reconcile_after_s
                reply = await self.ledger.expire(ck, idx, now, self.config.grant_deadline_s, reconcile_at)
                if reply[0] == "regrant":
                    regrants.append((idx, reply[1]))
                elif reply[0] == "parked":
                    stats["parked"] += 1
                    await events.emit(self.redis, now, "send_in_doubt", cid, reason="lease expired", index=idx)
            if regrants:
                stats["regranted"] += await enqueue_sends(self.scripts, self.wall, cid, regrants)
            if self.sender is not None:
                await self._reconcile(cid, ck, now, stats)
        return stats

    async def _reconcile(self, cid: str, ck: keys.CampaignKeys, now: float, stats: dict[str, int]) -> None:
        assert self.sender is not None
        due = await self.redis.zrangebyscore(ck.doubt, "-inf", now, start=0, num=200)
        if not due:
            return
        rec = await self._load(cid)
        if rec is None:
            return
        for raw in due:
            idx = int(raw)
            state = await self.ledger.state_of(ck, idx)
            parts = state.split("|")
            if parts[0] != "d" or len(parts) < 6:
                await self.redis.zrem(ck.doubt, raw)
                continue
            token, since, grant, gt = parts[1], float(parts[2]), parts[4], float(parts[5])
            identity = grant.rsplit(":", 1)[0]
            ident = next((i for i in rec.spec.identities if i.id == identity), None)
            address, _ = await self.ledger.record_of(ck, idx)
            if ident is None:
                continue
            result = await self.sender.lookup(
                StatusQuery(
                    account=ident.account,
                    from_address=ident.address,
                    to_address=address,
                    request_date=datetime.fromtimestamp(gt, tz=UTC).date(),
                    not_before=datetime.fromtimestamp(gt - 5, tz=UTC),
                )
            )
            grant_date = datetime.fromtimestamp(gt, tz=rec.spec.zone).date().isoformat()
            member = f"{cid}:{idx}:{grant.rsplit(':', 1)[1]}"
            if result.verdict in (LookupVerdict.SENT, LookupVerdict.NOT_SENT):
                sent = result.verdict is LookupVerdict.SENT
                # Sent: record the provider's MessageId. Clearly not sent: retry now, budget given back.
                settled = await self.ledger.finish(
                    ck,
                    identity,
                    idx,
                    token,
                    now,
                    "accepted" if sent else "retry",
                    value=(result.message_id or "") if sent else "",
                    ready_at=now,
                    refund=not sent,
                    grant_member=member,
                    grant_local_date=grant_date,
                    grant_time=gt,
                )
                if not settled:
                    continue  # the worker's own late answer got there first: nothing to report
                stats["reconciled_sent" if sent else "reconciled_not_sent"] += 1
                await events.emit(
                    self.redis, now, "in_doubt_resolved", cid, identity, index=idx, verdict=result.verdict.value
                )
            elif now - since > self.config.reconcile_window_s:
                await self.redis.zrem(ck.doubt, raw)
                stats["left_in_doubt"] += 1
                await events.emit(
                    self.redis, now, "in_doubt_unresolved", cid, identity, index=idx, detail=result.detail
                )
            else:
                again = self.config.reconcile_throttled_retry_s if result.retry_soon else self.config.reconcile_retry_s
                await self.redis.zadd(ck.doubt, {raw: now + again})


#: Complete a running campaign only if nothing is queued, granted or in flight and no doubt awaits
#: its lookup, all read in the same atomic step as the state change (same fields as a transition).
#: KEYS: 1 campaign meta, 2 counts, 3 doubt; ARGV: 1 reason, 2 now, then the ledger states.
#: Returns {'ok', count per state...} | {'busy'} | {'not_running'}
_COMPLETE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return {'not_running'} end
local counts = {}
for i = 3, #ARGV do
  counts[#counts + 1] = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
end
for _, s in ipairs({'queued', 'granted', 'inflight'}) do
  if tonumber(redis.call('HGET', KEYS[2], s) or '0') ~= 0 then return {'busy'} end
end
if redis.call('ZCARD', KEYS[3]) > 0 then return {'busy'} end
redis.call('HSET', KEYS[1], 'state', 'completed', 'reason', ARGV[1], 'paused_by', '', 'changed_at', ARGV[2])
local out = {'ok'}
for _, n in ipairs(counts) do out[#out + 1] = n end
return out
"""

_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


class LeaderLock:
    """Exactly one active pacer: a Redis lock with a token, renewed every tick."""

    def __init__(self, redis: Redis, ttl_s: float = 10.0) -> None:
        self.redis = redis
        self.ttl_ms = int(ttl_s * 1000)
        self.token = secrets.token_hex(8)

    async def acquire_or_renew(self) -> bool:
        if await self.redis.set(keys.PACER_LOCK, self.token, nx=True, px=self.ttl_ms):
            return True
        renewed = await self.redis.eval(
            _RENEW,
            1,
            keys.PACER_LOCK,
            self.token,
            str(self.ttl_ms),
        )
        return bool(renewed)

    async def release(self) -> None:
        await self.redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            1,
            keys.PACER_LOCK,
            self.token,
        )


async def run_pacer(
    pacer: Pacer, interval_s: float = 1.0, sweep_every_s: float = 10.0, stop: asyncio.Event | None = None
) -> None:
    """The pacer process's loop (real time): tick while holding the leader lock; sweep now and then."""
    stop = stop or asyncio.Event()
    lock = LeaderLock(pacer.redis)
    last_sweep = 0.0
    leader = False
    try:
        while not stop.is_set():
            is_leader = await lock.acquire_or_renew()
            if is_leader != leader:
                log.info("pacer_leadership", leader=is_leader)
                leader = is_leader
            if is_leader:
                report = await pacer.tick()
                if report.granted:
                    log.debug("pacer_tick", granted=report.granted, by_identity=report.by_identity)
                wall = pacer.wall.now()
                if wall - last_sweep >= sweep_every_s:
                    stats = await pacer.sweep()
                    if any(stats.values()):
                        log.info("sweep", **stats)
                    last_sweep = wall
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    finally:
        await lock.release()
