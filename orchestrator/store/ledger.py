"""The per-recipient ledger: claims and outcomes (grants: store/limiter.py), each one atomic Lua compare-and-swap."""

from __future__ import annotations

import json
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orchestrator.core import ledger_state
from orchestrator.core.calendar import tencent_day
from orchestrator.core.campaign_state import SENDING, Transition
from orchestrator.core.ledger_state import STATES, Entry, LedgerState
from orchestrator.store import campaigns, keys, suppression
from orchestrator.store.events import MAXLEN
from orchestrator.store.feedback import MESSAGE_TTL_S, FeedbackStore
from orchestrator.store.scripts import Scripts, as_str_list
from orchestrator.store.trace_index import HISTORY_CAP

#: Every state a recipient can be in; `queued` covers the queue, retries and held recipients.
#: A stored record is the address, MARK, then the template values as one JSON array: no byte of a
#: value can move it into another field. Records of the older format (the address and the values
#: joined by SEP) are still read. An address never holds a control character, so the first of the
#: two bytes in a record says which format it is; the Lua scripts read the address up to either.
MARK = "\x1e"
SEP = "\x1f"

log = structlog.get_logger("orchestrator.ledger")


@dataclass(frozen=True, slots=True)
class Claim:
    attempt: int
    campaign_state: str
    address: str
    values: list[str]
    grant_time: float
    suppressed: str  # "" to send; else why not (store/suppression.reason_code): blocklist, all:..., domain:...
    suppressed_detail: str = ""  # the suppression entry's own reason text
    elsewhere: str = ""  # where the campaign's mail went when it is not where this worker sends; "" otherwise


def encode_record(address: str, values: list[str]) -> str:
    return address + MARK + json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def record_address(rec: str) -> str:
    """Only the address of a stored record (its values are not decoded)."""
    return rec.split(MARK, 1)[0].split(SEP, 1)[0]


def decode_record(rec: str) -> tuple[str, list[str]]:
    mark, sep = rec.find(MARK), rec.find(SEP)
    if mark >= 0 and (sep < 0 or mark < sep):
        values = json.loads(rec[mark + 1 :])
        return rec[:mark], [str(v) for v in values]
    parts = rec.split(SEP)
    return parts[0], parts[1:]


def _feedback_keys(ck: keys.CampaignKeys, idx: int, message_id: str) -> list[str]:
    """finish.lua's keys of an accepted send's delivery feedback (store/feedback.py), counted in the same call."""
    ks = [ck.rec(idx), keys.fb_message(message_id), keys.FB_COHORTS, keys.FB_TOTALS, keys.FB_PENDING]
    return [*ks, keys.fb_early(message_id)]


def _finish_keys(
    ck: keys.CampaignKeys, identity: str, idx: int, message_id: str, grant_local_date: str, grant_time: float
) -> list[str]:
    """finish.lua's KEYS, in its order (`message_id` "-" unless the send was accepted)."""
    ik = keys.IdentityKeys(identity)
    return [
        ck.state(idx),
        ck.counts,
        ck.inflight,
        ck.later,
        ck.queue,
        ck.meta,
        ik.hour,
        ik.day(grant_local_date),
        ik.gcra,
        keys.MESSAGE_IDS,
        keys.EVENTS,
        ck.doubt,
        ik.quota_day(tencent_day(grant_time)[0] if grant_time else "-"),
        *_feedback_keys(ck, idx, message_id),
        keys.history_bucket(ck.cid, idx),
        ik.group_day(grant_local_date),
    ]


class Ledger:
    def __init__(self, redis: Redis, scripts: Scripts | None = None) -> None:
        self.redis = redis
        self.scripts = scripts or Scripts(redis)
        self.feedback = FeedbackStore(redis)

    async def claim(
        self,
        ck: keys.CampaignKeys,
        idx: int,
        grant: str,
        token: str,
        now: float,
        lease_s: float,
        sender_domain: str = "",
        target: str = "",
    ) -> Claim | None:
        reply = as_str_list(
            await self.scripts.claim(
                keys=[
                    ck.state(idx),
                    ck.counts,
                    ck.inflight,
                    ck.meta,
                    ck.rec(idx),
                    keys.BLOCKLIST,
                    keys.suppression(sender_domain.lower()),
                    keys.SUPPRESS_ALL,
                ],
                args=[idx, grant, token, repr(now + lease_s), repr(now), target, SENDING],
            )
        )
        if reply[0] != "ok":
            return None
        address, values = decode_record(reply[3])
        by, entry = reply[5], reply[6]
        why = suppression.reason_code(by, entry) if by else ""
        detail = suppression.reason_detail(by, entry)
        return Claim(int(reply[1]), reply[2], address, values, float(reply[4]), why, detail, reply[7])

    async def finish(
        self,
        ck: keys.CampaignKeys,
        identity: str,
        idx: int,
        token: str,
        now: float,
        action: str,
        value: str = "",
        ready_at: float = 0.0,
        refund: bool = False,
        grant_member: str = "",
        grant_local_date: str = "",
        detail: str = "",
        grant_time: float = 0.0,
        sent_at: float | None = None,
        found_by_lookup: bool = False,
    ) -> bool:
        """Record an outcome. False when the caller no longer holds the recipient (stale token).

        `sent_at`: when the provider received an accepted send, if not `now` (a doubt settled later
        by a lookup): the MessageId map, the delivery cohort and the follow-up keep that time.
        `found_by_lookup`: the accepted MessageId came from a status lookup, not from the send's own
        answer (the history tells them apart: core/recipient_trace.RECONCILED_SENT).
        """
        accepted_at = now if sent_at is None else min(sent_at, now)
        reply = as_str_list(
            await self.scripts.finish(
                keys=_finish_keys(
                    ck, identity, idx, value if action == "accepted" else "-", grant_local_date, grant_time
                ),
                args=[
                    idx,
                    token,
                    repr(now),
                    action,
                    value,
                    repr(ready_at),
                    "1" if refund else "0",
                    ck.cid,
                    grant_member,
                    detail,
                    MAXLEN,
                    identity,
                    MESSAGE_TTL_S,
                    HISTORY_CAP,
                    repr(accepted_at),
                    "1" if found_by_lookup else "0",
                ],
            )
        )
        if reply[0] == "ok" and action == "accepted" and int(reply[2]):
            await self.feedback.apply_early(value, now)  # events that came before the send was recorded
        if reply[0] == "damaged":
            await self._damaged(ck.cid, idx, reply[1], action, now)
        return reply[0] == "ok"

    async def _damaged(self, cid: str, idx: int, key: str, action: str, now: float) -> None:
        """An outcome refused because a key it writes is damaged: said, and the campaign paused (its
        sends would leave with nothing recorded); the send stays in flight or in doubt meanwhile."""
        log.warning("finish_refused_damaged_key", campaign=cid, index=idx, key=key, action=action)
        reason = f"a stored key is damaged ({key}): a send's outcome could not be recorded; repair or delete it"
        try:
            await campaigns.transition(self.redis, cid, Transition.AUTO_PAUSE, now, reason=reason)
        except ResponseError as exc:  # the campaign's own hash damaged too: the warning above stands
            log.warning("damaged_key_pause_refused", campaign=cid, reason=str(exc)[:200])

    async def expire(
        self, ck: keys.CampaignKeys, idx: int, now: float, regrant_deadline_s: float, reconcile_at: float
    ) -> list[str]:
        return as_str_list(
            await self.scripts.expire(
                keys=[ck.state(idx), ck.counts, ck.inflight, ck.doubt],
                args=[idx, repr(now), repr(now + regrant_deadline_s), repr(reconcile_at)],
            )
        )

    async def in_doubt(self, ck: keys.CampaignKeys, valid: int) -> list[tuple[int, str, float, str]]:
        """Every recipient in doubt: (index, address, since, identity). Scans the ledger: for operators."""
        out: list[tuple[int, str, float, str]] = []
        buckets = (valid + keys.BUCKET - 1) // keys.BUCKET
        for start in range(0, buckets, 500):
            async with self.redis.pipeline(transaction=False) as pipe:
                for b in range(start, min(buckets, start + 500)):
                    pipe.hgetall(f"{ck.state_prefix}{b}")
                states = await pipe.execute()
            for bucket in states:
                for idx, st in bucket.items():
                    e = ledger_state.parse(st)
                    if e.state is LedgerState.IN_DOUBT:
                        address, _ = await self.record_of(ck, int(idx))
                        out.append((int(idx), address, float(e.get("since")), e.identity))
        return sorted(out)

    async def counts(self, ck: keys.CampaignKeys) -> dict[str, int]:
        raw = await self.redis.hgetall(ck.counts)
        return {s: int(raw.get(s, 0)) for s in STATES}

    async def state_of(self, ck: keys.CampaignKeys, idx: int) -> str:
        """The stored state as Redis holds it (tests compare it whole)."""
        return str(await self.redis.hget(ck.state(idx), str(idx)) or ledger_state.UNTOUCHED)

    async def entry_of(self, ck: keys.CampaignKeys, idx: int) -> Entry:
        """The recipient's decoded ledger state."""
        return ledger_state.parse(await self.redis.hget(ck.state(idx), str(idx)))

    async def record_of(self, ck: keys.CampaignKeys, idx: int) -> tuple[str, list[str]]:
        rec = await self.redis.hget(ck.rec(idx), str(idx))
        return decode_record(str(rec or ""))
