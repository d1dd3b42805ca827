"""The sweep's feedback pass: kept early events applied, old cohorts pruned, unsettled deliveries followed up.

A send accepted FOLLOWUP_AFTER_S ago with no delivery event yet (callbacks lost, or not configured)
is looked up once with GetSendEmailStatus (by MessageId, on the Tencent day of its send, through
the account's API budget like every call), and what Tencent says is counted through the same store
as a callback: delivered, dropped, hard bounce (status 3), and the opened / clicked / complained /
unsubscribed flags; a mail Tencent accepted and then did not send (a SendStatus other than 0) is
dropped. A mail still queued or deferred (status 0 or 8) is counted deferred and asked
about again FOLLOWUP_RECHECK_S later, until FOLLOWUP_GIVE_UP_S after its send (Tencent tries for up
to 72 hours). A mail found delivered before it is a day old is asked about once more when it is:
complaints and opens come for a day after delivery (the guardrails judge them on sends that old).
The status API does not tell a soft bounce from a deferral: those stay deferred.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, Final

import structlog

from orchestrator.core.calendar import tencent_day
from orchestrator.core.callback_event import REASON_CHARS, CallbackEvent
from orchestrator.core.quality import FOLLOWUP_GIVE_UP_S, FOLLOWUP_RECHECK_S, SETTLE_S, metric_of
from orchestrator.core.send_status import NO_RECORD, describe
from orchestrator.guarding import pause_on_send_status
from orchestrator.pacing import Pacer
from orchestrator.ses.errors import SesError
from orchestrator.store import keys
from orchestrator.store.feedback import FeedbackStore, Sent, parse_sent, queue_early

log = structlog.get_logger("workers.followup")

#: Status lookups per sweep, and how many run side by side (each waits for its slot in the budget).
PER_SWEEP: Final = 100
AT_ONCE: Final = 8
#: DeliverStatus (spec/tencent-ses.md) that settle a mail -> (event, bounceType) as a callback names them.
SETTLED: Final = {1: ("delivered", ""), 2: ("dropped", ""), 3: ("bounce", "hard_bounce")}
DEFERRED: Final = 8
#: The status row's engagement flags -> the callback event each stands for.
FLAGS: Final = (
    ("UserOpened", "open"),
    ("UserClicked", "click"),
    ("UserComplained", "spamreport"),
    ("UserUnsubscribed", "unsubscribe"),
)


def events_of_status(row: Any, message_id: str, address: str, now: float) -> tuple[list[CallbackEvent], bool]:
    """The events one GetSendEmailStatus row stands for, and whether it settles the mail's delivery."""
    status = int(getattr(row, "DeliverStatus", 0) or 0)
    at = int(getattr(row, "DeliverTime", 0) or 0) or int(now)
    from_domain = str(getattr(row, "FromEmailAddress", "") or "").rpartition("@")[2].rstrip(">").lower()
    # Accepted, then not sent by Tencent (blocklisted, unsubscribed, its own error, no balance...):
    # dropped, as a callback would name it; no delivery nor engagement can follow.
    refused = int(getattr(row, "SendStatus", 0) or 0)
    refused = 0 if refused == NO_RECORD else refused  # "no record" (yet): not an answer, asked again later
    said = f"{describe(refused) if refused else ''} {getattr(row, 'DeliverMessage', '') or ''}"
    reason = " ".join(said.split())[:REASON_CHARS]

    def event(name: str, bounce_type: str = "") -> CallbackEvent:
        metric = metric_of(name, bounce_type) or name
        return CallbackEvent(message_id, name, metric, at, address, from_domain, bounce_type, reason, "status")

    if refused:
        return [event("dropped")], True
    out = []
    if status in SETTLED:
        out.append(event(*SETTLED[status]))
    elif status == DEFERRED:
        out.append(event("deferred"))
    out += [event(name) for flag, name in FLAGS if _flag(row, flag) and from_domain]
    return out, status in SETTLED


def _flag(row: Any, flag: str) -> bool:
    """A status row's engagement flag; a complaint also under its older name `UserComplainted`, which
    Tencent's own example answer shows (the SDK keeps it as `_UserComplainted`, read without its warning)."""
    if getattr(row, flag, False) is True:
        return True
    return flag == "UserComplained" and getattr(row, "_UserComplainted", False) is True


class Followup:
    """Looks up accepted sends whose delivery is still unknown; counts the answers once per message."""

    def __init__(self, pacer: Pacer, after_s: float) -> None:
        self.pacer = pacer
        self.redis = pacer.redis
        self.store = FeedbackStore(pacer.redis)
        self.after_s = after_s

    def queue_due(self, pipe: Any, now: float) -> None:
        """Queue on `pipe` the read of the mails due for a lookup (one reply)."""
        pipe.zrangebyscore(keys.FB_PENDING, "-inf", now - self.after_s, start=0, num=PER_SWEEP)

    @property
    def on(self) -> bool:
        """Whether follow-ups are made: an interval set and a sender that can look up statuses."""
        return self.after_s > 0 and self.pacer.sender is not None and hasattr(self.pacer.sender, "status_page")

    async def run(self, now: float) -> dict[str, int]:
        sender = self.pacer.sender
        if not self.on or sender is None:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_due(pipe, now)
            (due,) = await pipe.execute()
        if not due:
            return {}
        # The whole of each lookup under the bound, its Redis reads and writes too: a hundred side by
        # side would each hold a connection of the client's bounded pool ("Too many connections").
        limit = asyncio.Semaphore(AT_ONCE)

        async def bounded(message_id: str) -> str:
            async with limit:
                return await self._one(sender, message_id, now)

        outcomes = await asyncio.gather(*(bounded(str(m)) for m in due))
        return {f"followup_{k}": outcomes.count(k) for k in set(outcomes)}

    async def _one(self, sender: Any, message_id: str, now: float) -> str:
        """Ask about one mail; returns what came of it (settled, open, given_up, gone, error)."""
        raw = await self.redis.hget(keys.MESSAGE_IDS, message_id)
        sent = parse_sent(str(raw)) if raw else None
        where = await self._where(sent)
        if sent is None or where is None:
            await self.redis.zrem(keys.FB_PENDING, message_id)
            return "gone"
        account, address = where
        sent_at = sent.sent_at if sent.sent_at is not None else now
        day = date.fromisoformat(tencent_day(sent_at)[0])
        try:
            rows = await sender.status_page(account, day, address, 0, message_id)
        except SesError as exc:
            log.info("followup_lookup_failed", error=exc.code)
            await self._again(message_id, now)
            return "error"
        row = next((r for r in rows if getattr(r, "MessageId", "") == message_id), None)
        await self._pause_on_status(row, sent.campaign, now)
        events, settled = events_of_status(row, message_id, address, now) if row is not None else ([], False)
        if events:
            await self.store.ingest(events, now)
        if settled:
            if now - sent_at < SETTLE_S and events and events[0].event == "delivered":
                # Delivered, but complaints and opens come for a day after it: one more look once they
                # have had their day (each counts once per message, so nothing read now counts twice).
                # Counting the delivery took the mail out of the set: it goes back in for that look.
                await self.redis.zadd(keys.FB_PENDING, {message_id: sent_at + SETTLE_S - self.after_s})
                return "recheck"
            await self.redis.zrem(keys.FB_PENDING, message_id)
            return "settled"
        if now - sent_at >= FOLLOWUP_GIVE_UP_S:
            await self.redis.zrem(keys.FB_PENDING, message_id)
            return "given_up"
        await self._again(message_id, now)
        return "open"

    async def _pause_on_status(self, row: Any, cid: str, now: float) -> None:
        """Tencent's status row says it limits the sender (core/guardrails.py): the campaign pauses itself."""
        status = int(getattr(row, "SendStatus", 0) or 0) if row is not None else None
        await pause_on_send_status(self.redis, cid, status, now, "delivery follow-up")

    async def _where(self, sent: Sent | None) -> tuple[str, str] | None:
        """(account, recipient address) of a recorded send; None when its campaign or identity is gone."""
        if sent is None:
            return None
        rec = await self.pacer.load_campaign(sent.campaign)
        ident = next((i for i in rec.spec.identities if i.id == sent.identity), None) if rec else None
        if ident is None:
            return None
        address, _ = await self.pacer.ledger.record_of(keys.CampaignKeys(sent.campaign), sent.index)
        return ident.account, address

    async def _again(self, message_id: str, now: float) -> None:
        """Ask again FOLLOWUP_RECHECK_S from now (the zset scores sends; a lookup is due `after_s` past it),
        unless a callback settled the mail while it was looked up (it left the set: XX does not put it back)."""
        await self.redis.zadd(keys.FB_PENDING, {message_id: now + FOLLOWUP_RECHECK_S - self.after_s}, xx=True)


async def feedback_pass(pacer: Pacer, now: float, early: bool = True, followup: bool = True) -> dict[str, int]:
    """The sweep's share of the feedback work; returns counts for the sweep's log line.

    `early`, `followup` False: the sweep's read (`queue_feedback`) found no kept event, no mail due,
    and that pass is skipped.
    """
    store = FeedbackStore(pacer.redis)
    stats = {
        "early_applied": await store.retry_early(now) if early else 0,
        "cohort_fields_pruned": await store.prune(now),
    }
    if followup:
        stats.update(await Followup(pacer, pacer.config.followup_after_s).run(now))
    return stats


def queue_feedback(pacer: Pacer, pipe: Any, now: float) -> None:
    """Queue on `pipe` the reads `feedback_pass` starts with: forgotten, early ids, and with the
    follow-up on, the mails due (two or three replies)."""
    queue_early(pipe, now)
    followup = Followup(pacer, pacer.config.followup_after_s)
    if followup.on:
        followup.queue_due(pipe, now)
