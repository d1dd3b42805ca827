"""The sweeper: re-enqueue granted sends whose job was lost, park expired leases in doubt, reconcile doubts."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime

import structlog
from redis.exceptions import ResponseError

from orchestrator.core.campaign import Identity
from orchestrator.core.decisions import Decision, never_again
from orchestrator.core.ledger_state import LedgerFormatError, LedgerState
from orchestrator.core.recipient_trace import RECONCILED_SENT
from orchestrator.core.send_status import REFUSAL_CODES
from orchestrator.core.sending import LookupResult, LookupVerdict, MailOwner, Sender, StatusQuery
from orchestrator.guarding import pause_on_send_status
from orchestrator.pacing import Pacer
from orchestrator.store import campaigns, compaction, events, keys, trace_index
from orchestrator.store.feedback import parse_sent
from orchestrator.store.stored_values import refused
from workers.followup import feedback_pass, queue_feedback
from workers.jobs import enqueue_sends
from workers.send import suppress_refused

log = structlog.get_logger("workers.sweep")

#: How many status lookups of one campaign's doubts run at once.
LOOKUPS_AT_ONCE = 16
#: Overdue leases and due doubts one sweep takes per campaign (the rest wait for the next sweep).
EXPIRE_BATCH = 1000
RECONCILE_BATCH = 200
#: A campaign whose compaction was refused (its ledger cannot be read) is tried again this much later.
COMPACT_REFUSED_AGAIN_S = 3600.0


class Sweeper:
    """Runs beside the pacer's ticks: the same Redis, clocks, configuration, sender and campaign loader."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        self.redis = pacer.redis
        self.ledger = pacer.ledger
        self._compact_refused: dict[str, float] = {}  # campaign -> when to try its compaction again
        self.config = pacer.config

    async def sweep(self) -> dict[str, int]:
        """Re-enqueue grants whose job was lost; park expired leases in doubt; reconcile doubts."""
        now = self.pacer.clock.now()
        stats = {
            "regranted": 0,
            "parked": 0,
            "reconciled_sent": 0,
            "reconciled_not_sent": 0,
            "left_in_doubt": 0,
        }
        cids = await campaigns.all_ids(self.redis)
        # One round trip to find which passes have anything to do: most sweeps find nothing. The read
        # only ever skips a pass. A pass with work reads again in its turn, as it always did: a doubt
        # of a later campaign may be parked anew (due later) while an earlier one is being settled.
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in cids:
                ck = keys.CampaignKeys(cid)
                pipe.zrangebyscore(ck.inflight, "-inf", now, start=0, num=1)
                pipe.zrangebyscore(ck.doubt, "-inf", now, start=0, num=1)
            queue_feedback(self.pacer, pipe, now)
            replies = await pipe.execute(raise_on_error=False)
        per_campaign, feedback = replies[: 2 * len(cids)], replies[2 * len(cids) :]
        for n, cid in enumerate(cids):
            ck = keys.CampaignKeys(cid)
            overdue, doubts = per_campaign[2 * n], per_campaign[2 * n + 1]
            why = refused(overdue) or refused(doubts)
            if why is not None:  # one campaign's keys unreadable: the others are still swept
                log.warning("sweep_campaign_skipped", campaign=cid, reason=why)
                continue
            try:
                if overdue:
                    await self._expire(ck, now, stats)
                if self.pacer.sender is not None and (overdue or doubts):  # a lease parked now may be due now
                    await self._reconcile(self.pacer.sender, ck, now, stats)
            except (ResponseError, ValueError) as exc:  # a damaged key of this campaign: the others go on
                log.warning("sweep_campaign_skipped", campaign=cid, reason=refused(exc) or type(exc).__name__)
        # A feedback read that found nothing skips its pass; any other answer (a refused key too) has
        # the pass read again in its turn, where a refused key fails the sweep as before.
        early, due = feedback[1] != [], len(feedback) > 2 and feedback[2] != []
        stats.update(await feedback_pass(self.pacer, now, early=early, followup=due))
        stats["compacted"] = await self._compact(now, cids)
        return stats

    async def _compact(self, now: float, cids: list[str]) -> int:
        """Finished campaigns past their retention, compacted a bounded number of batches per sweep."""
        done = 0
        for cid in await compaction.due(self.redis, now, self.config.completed_retention_s, cids):
            if self._compact_refused.get(cid, 0.0) > now:
                continue
            try:
                finished, removed = await compaction.compact(self.redis, cid, now)
            except compaction.CompactionRefusedError as exc:  # damaged: kept whole, asked again in an hour
                log.warning("compaction_refused", campaign=cid, reason=str(exc))
                self._compact_refused[cid] = now + COMPACT_REFUSED_AGAIN_S
                continue
            if finished:
                done += 1
                await events.emit(self.redis, now, "campaign_compacted", cid, keys_removed=removed)
            else:
                break  # the budget of this sweep is spent
        return done

    async def _expire(self, ck: keys.CampaignKeys, now: float, stats: dict[str, int]) -> None:
        """Leases past their deadline: a grant whose job never started goes back on arq's queue."""
        overdue = await self.redis.zrangebyscore(ck.inflight, "-inf", now, start=0, num=EXPIRE_BATCH)
        regrants: list[tuple[int, str]] = []
        for raw in overdue:
            idx = int(raw)
            reconcile_at = now + self.config.reconcile_after_s
            reply = await self.ledger.expire(ck, idx, now, self.config.grant_deadline_s, reconcile_at)
            if reply[0] == "regrant":
                regrants.append((idx, reply[1]))
            elif reply[0] == "parked":
                stats["parked"] += 1
                await events.emit(self.redis, now, "send_in_doubt", ck.cid, reason="lease expired", index=idx)
            elif reply[0] == "unreadable":  # kept in flight, looked at again: never dropped unseen
                log.warning("lease_state_unreadable", campaign=ck.cid, index=idx)
        if regrants:
            stats["regranted"] += await enqueue_sends(self.pacer.scripts, self.pacer.wall, ck.cid, regrants)

    async def _reconcile(self, sender: Sender, ck: keys.CampaignKeys, now: float, stats: dict[str, int]) -> None:
        due = await self.redis.zrangebyscore(ck.doubt, "-inf", now, start=0, num=RECONCILE_BATCH)
        if not due:
            return
        rec = await self.pacer.load_campaign(ck.cid)
        if rec is None:
            return
        # Side by side: each lookup waits for its own slot in the account's API budget (the share
        # reserved for lookups, or idle SendEmail slots), so a hundred doubts do not queue one by one.
        gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

        async def one(raw: str) -> None:
            async with gate:
                try:
                    await self._reconcile_one(sender, rec, ck, raw, now, stats)
                except (ResponseError, ValueError) as exc:  # this doubt's keys damaged: the others go on
                    log.warning(
                        "in_doubt_unreadable", campaign=ck.cid, index=raw, reason=refused(exc) or str(exc)[:200]
                    )
                    await self.redis.zadd(ck.doubt, {raw: now + self.config.reconcile_retry_s}, xx=True)

        await asyncio.gather(*(one(str(raw)) for raw in due))

    async def _reconcile_one(
        self,
        sender: Sender,
        rec: campaigns.CampaignRecord,
        ck: keys.CampaignKeys,
        raw: str,
        now: float,
        stats: dict[str, int],
    ) -> None:
        """Ask the provider what became of one send in doubt; settle it, give up on it, or ask again later."""
        idx = int(raw)
        try:
            entry = await self.ledger.entry_of(ck, idx)
            if entry.state is not LedgerState.IN_DOUBT:
                await self.redis.zrem(ck.doubt, raw)
                return
            since, grant, gt = float(entry.get("since")), entry.get("grant"), float(entry.get("grant_time"))
            sent_on = datetime.fromtimestamp(gt, tz=UTC)
            address, _ = await self.ledger.record_of(ck, idx)
        except (LedgerFormatError, ValueError, OverflowError, OSError):
            # A corrupt stored state: left in doubt for the operator, asked about again later, never fatal.
            log.warning("in_doubt_unreadable", campaign=ck.cid, index=idx)
            await self.redis.zadd(ck.doubt, {raw: now + self.config.reconcile_retry_s})
            return
        identity = entry.identity
        ident = next((i for i in rec.spec.identities if i.id == identity), None)
        if ident is None:
            return
        result = await sender.lookup(
            StatusQuery(
                account=ident.account,
                from_address=ident.address,
                to_address=address,
                request_date=sent_on.date(),
                not_before=sent_on,  # the grant: the lookup window's slack allows for the clocks' skew
                not_after=datetime.fromtimestamp(max(since, gt), tz=UTC),
                taken=functools.partial(self._taken_by_another, ck.cid, idx),
            )
        )
        # Tencent refused the send as limiting the sender (3030): the campaign pauses, as on the follow-up.
        await pause_on_send_status(self.redis, ck.cid, result.refused_status, now, "in-doubt lookup")
        if result.verdict in (LookupVerdict.SENT, LookupVerdict.NOT_SENT):
            token = entry.get("token")
            if await self._settle(rec, ck, idx, token, ident, address, grant, gt, result, now, stats):
                return
            if not await self._refused_past_window(ck, raw, since, now):
                return
            result = LookupResult(LookupVerdict.UNKNOWN, detail="its outcome could not be recorded (a damaged key)")
        if result.undecidable or now - since > self.config.reconcile_window_s:
            await self.redis.zrem(ck.doubt, raw)
            stats["left_in_doubt"] += 1
            await events.emit(self.redis, now, "in_doubt_unresolved", ck.cid, identity, index=idx, detail=result.detail)
            log.warning("in_doubt_unresolved", campaign=ck.cid, identity=identity, index=idx, detail=result.detail)
        else:
            again = self.config.reconcile_throttled_retry_s if result.retry_soon else self.config.reconcile_retry_s
            await self.redis.zadd(ck.doubt, {raw: now + again})

    async def _refused_past_window(self, ck: keys.CampaignKeys, raw: str, since: float, now: float) -> bool:
        """A lookup's outcome not settled: the worker's own late answer got there first (the doubt is gone),
        or a damaged key refused it (the campaign paused itself), asked again until the window is over."""
        return now - since > self.config.reconcile_window_s and await self.redis.zscore(ck.doubt, raw) is not None

    async def _taken_by_another(self, cid: str, idx: int, message_id: str) -> MailOwner:
        """Whether `message_id` is already recorded as another send's (the same recipient mailed again),
        and whether that send had it from its own answer or, in doubt too, from a lookup (its last recorded
        outcome is RECONCILED_SENT with this MessageId): then either may be the one that left."""
        raw = await self.redis.hget(keys.MESSAGE_IDS, message_id)
        sent = parse_sent(str(raw)) if raw is not None else None
        if sent is None or (sent.campaign, sent.index) == (cid, idx):
            return MailOwner.NONE
        past = await trace_index.history(self.redis, sent.campaign, sent.index)
        if past and past[-1].decision == RECONCILED_SENT and past[-1].code == message_id:
            return MailOwner.ANOTHER_BY_LOOKUP
        return MailOwner.ANOTHER

    async def _settle(
        self,
        rec: campaigns.CampaignRecord,
        ck: keys.CampaignKeys,
        idx: int,
        token: str,
        ident: Identity,
        address: str,
        grant: str,
        gt: float,
        result: LookupResult,
        now: float,
        stats: dict[str, int],
    ) -> bool:
        """Sent: record the provider's MessageId. Clearly not sent: retry now, budget given back; or,
        when the send's own status row says the address is blocklisted or unsubscribed, suppressed as
        the send's own answer would have had it (a retry would only be refused the same way)."""
        sent = result.verdict is LookupVerdict.SENT
        action, value, never = _outcome(result)
        if never is not None:  # kept first, as the worker keeps a refusal before its outcome
            await suppress_refused(self.redis, never, address, ident.domain, ident.account, now)
        settled = await self.ledger.finish(
            ck,
            ident.id,
            idx,
            token,
            now,
            action,
            value=value,
            ready_at=now,
            refund=not sent,
            grant_member=f"{ck.cid}:{idx}:{grant.rsplit(':', 1)[1]}",
            grant_local_date=datetime.fromtimestamp(gt, tz=rec.spec.zone).date().isoformat(),
            grant_time=gt,
            sent_at=result.sent_at if sent else None,
            found_by_lookup=sent,
        )
        if not settled:
            # The worker's own late answer got there first (the doubt is gone), or a key is damaged
            # (the doubt stays, asked about again later, not at every sweep).
            await self.redis.zadd(ck.doubt, {str(idx): now + self.config.reconcile_retry_s}, xx=True)
            return False
        stats["reconciled_sent" if sent else "reconciled_not_sent"] += 1
        verdict, code = result.verdict.value, never.value if never else None
        await events.emit(self.redis, now, "in_doubt_resolved", ck.cid, ident.id, index=idx, verdict=verdict, code=code)
        return True


def _outcome(result: LookupResult) -> tuple[str, str, Decision | None]:
    """The ledger action and value a settled lookup records, and the refusal it keeps when the send's own
    status row says the address is blocklisted or unsubscribed (core/send_status.REFUSAL_CODES)."""
    if result.verdict is LookupVerdict.SENT:
        return "accepted", result.message_id or "", None
    code = REFUSAL_CODES.get(result.refused_status or 0)
    if code is None:
        return "retry", "", None
    never = never_again(code)
    return never.action.value, never.value, never
