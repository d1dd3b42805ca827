"""`trace`: what happened to one address in every campaign that had it, and what first explains a missing mail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from orchestrator.core import ledger_state
from orchestrator.core.addresses import fold
from orchestrator.core.calendar import TENCENT_ZONE
from orchestrator.core.callback_event import BadEventError, parse_event
from orchestrator.core.recipient_trace import Listed, Outcome, Place, Seen, Verdict, list_verdict, verdict
from orchestrator.ses.client import TencentSender
from orchestrator.ses.errors import SesError
from orchestrator.store import campaigns, compaction, identities, keys, suppression, trace_index
from orchestrator.store.feedback import FeedbackStore, parse_sent

#: What `--live` keeps of a GetSendEmailStatus row.
LIVE_FIELDS = (
    "MessageId",
    "SendStatus",
    "DeliverStatus",
    "DeliverMessage",
    "DeliverTime",
    "UserOpened",
    "UserClicked",
    "UserUnsubscribed",
    "UserComplained",
)


@dataclass
class Trace:
    """Everything `trace` found about one address."""

    address: str
    outcomes: list[Outcome]
    listed: list[Listed]
    not_indexed: int  # campaigns submitted before the address index was kept
    verdict: Verdict | None
    live: dict[str, list[dict[str, Any]] | str] = field(default_factory=dict)  # MessageId -> rows, or the error
    compacted: list[compaction.Compacted] = field(default_factory=list)  # searched campaigns without rows now


async def trace(redis: Redis, raw: str, now: float, only: str | None = None) -> Trace:
    """Gather the address's rows, ledger states, events and list entries (no ledger is scanned).

    The lists are read even when no campaign keeps a row of the address: they outlive compaction. Every
    sender-domain list is read: those of the identities ever registered and those an operator or an
    import wrote (a domain no campaign of the address used, or none yet), with no scan of the keyspace.
    """
    address = trace_index.index_field(raw)
    places, not_indexed = await trace_index.places(redis, raw, only)
    outcomes = [await _outcome(redis, p) for p in places]
    cids = [only] if only else [str(c) for c in await redis.zrange(keys.CAMPAIGNS, 0, -1)]
    gone = await compaction.compacted(redis, cids)  # read after the rows: one whose keys went since is dropped
    compacting = {g.cid for g in gone}
    outcomes = [o for o in outcomes if o.place.cid not in compacting]
    domains = {d for o in outcomes for d in o.sender_domains} | await identities.sender_domains(redis)
    domains |= await suppression.listed_domains(redis)
    listed = await _listed(redis, address, sorted(domains))
    found = verdict(outcomes, listed, address, now) if outcomes else list_verdict(listed, address, now)
    return Trace(address, outcomes, listed, not_indexed, found, compacted=gone)


async def _outcome(redis: Redis, place: Place) -> Outcome:
    rec = await campaigns.load(redis, place.cid)
    state, domains, itself, paused = "", tuple[str, ...](), "", ""
    if isinstance(rec, campaigns.CampaignRecord):
        state, domains = rec.state.value, tuple(sorted({i.domain for i in rec.spec.identities}))
        if rec.state is campaigns.State.PAUSED and rec.paused_by == "automatic":
            itself = rec.reason or "no reason recorded"
        elif rec.state is campaigns.State.PAUSED:  # the operator's, or a worker's that sends elsewhere
            paused = rec.reason
    if place.index is None:
        dropped = await trace_index.dropped_row(redis, place.cid, place.row)
        return Outcome(place, state, domains, dropped=dropped, self_paused=itself, pause_reason=paused)
    ck = keys.CampaignKeys(place.cid)
    entry = ledger_state.parse(await redis.hget(ck.state(place.index), str(place.index)))
    attempts = tuple(await trace_index.history(redis, place.cid, place.index))
    message_id = entry.fields.get("message_id", "")
    identity = attempts[-1].identity if attempts else ""
    if "grant" in entry.fields:
        identity = entry.identity
    accepted_at: float | None = None
    events: tuple[Seen, ...] = ()
    if message_id:
        sent = parse_sent(str(await redis.hget(keys.MESSAGE_IDS, message_id) or ""))
        if sent is not None:
            accepted_at, identity = sent.sent_at, sent.identity
        events = await _events(redis, message_id)
    # An in-doubt send the sweeper no longer asks about (undecidable, or past the window): the operator's.
    given_up = (
        entry.state is ledger_state.LedgerState.IN_DOUBT and await redis.zscore(ck.doubt, str(place.index)) is None
    )
    return Outcome(
        place,
        state,
        domains,
        doubt_given_up=given_up,
        state=entry.state.value,
        fields=tuple(entry.fields.items()),
        message_id=message_id,
        accepted_at=accepted_at,
        identity=identity,
        attempts=attempts,
        events=events,
        self_paused=itself,
        pause_reason=paused,
    )


async def _events(redis: Redis, message_id: str) -> tuple[Seen, ...]:
    """The events kept for the message (`wo:fb:m:<MessageId>`), oldest first."""
    out: list[Seen] = []
    for stored in await FeedbackStore(redis).trace(message_id):
        try:
            e = parse_event(stored, stored=True)
        except BadEventError:
            continue
        out.append(Seen(e.metric, float(e.timestamp), e.bounce_type, e.reason, e.source))
    return tuple(sorted(out, key=lambda s: s.at))


async def _listed(redis: Redis, address: str, domains: list[str]) -> list[Listed]:
    """The blocklist, all-domains and sender-domain entries of the address."""
    folded = fold(address)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hget(keys.BLOCKLIST, folded)
        for name in (keys.SUPPRESS_ALL, *(keys.suppression(d) for d in domains)):
            pipe.hmget(name, [folded, address])  # folded, or as written before lists were folded
        block, *found = await pipe.execute()
    everywhere, *per_domain = [a if a is not None else b for a, b in found]
    out: list[Listed] = []
    if block is not None:
        b = suppression.decode_block(address, str(block))
        out.append(Listed("blocklist", "", b.reason, b.account, b.bounced_at, b.expires_at))
    if everywhere is not None:
        e = suppression.decode(address, "", str(everywhere))
        out.append(Listed("all", "", e.reason, e.source, e.at))
    for d, raw in zip(domains, per_domain, strict=True):
        if raw is not None:
            e = suppression.decode(address, d, str(raw))
            out.append(Listed("domain", d, e.reason, e.source, e.at))
    return out


async def add_live(redis: Redis, found: Trace, sender: TencentSender, now: float) -> None:
    """Tencent's own GetSendEmailStatus record of each accepted MessageId (calls within the account's budget);
    the verdict is then made again with them (a record can explain a mail no event did)."""
    for o in found.outcomes:
        if not o.message_id or o.accepted_at is None:
            continue
        rec = await campaigns.load(redis, o.place.cid)
        spec = rec.spec if isinstance(rec, campaigns.CampaignRecord) else None
        account = next((i.account for i in spec.identities if i.id == o.identity), "") if spec else ""
        day = datetime.fromtimestamp(o.accepted_at, tz=TENCENT_ZONE).date()
        try:
            rows = await sender.status_page(account or "default", day, found.address, 0, o.message_id)
        except SesError as exc:
            found.live[o.message_id] = f"{exc.code}: {exc.detail}"
            continue
        found.live[o.message_id] = [{k: _plain(getattr(r, k, None)) for k in LIVE_FIELDS} for r in rows]
    if found.outcomes:
        found.verdict = verdict(found.outcomes, found.listed, found.address, now, found.live)


def _plain(value: object) -> object:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def as_json(found: Trace) -> dict[str, Any]:
    v = found.verdict
    return {
        "address": found.address,
        "seen": bool(found.outcomes),
        "campaigns": [_outcome_json(o) for o in found.outcomes],
        "lists": [vars_of(e) for e in found.listed],
        "not_indexed_campaigns": found.not_indexed,
        "verdict": None if v is None else {"campaign": v.campaign or None, "why": v.why, "fix": v.fix},
        "live": found.live,
        "compacted_campaigns": [compaction.as_json(c) for c in found.compacted],
    }


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "campaign": o.place.cid,
        "row": o.place.row,
        "submit": o.place.kind,
        "dropped": vars_of(o.dropped) if o.dropped is not None else None,
        "campaign_state": o.campaign_state,
        "campaign_paused_itself": o.self_paused or None,
        "campaign_pause_reason": o.pause_reason or None,
        "sender_domains": list(o.sender_domains),
        "state": o.state,
        "ledger": dict(o.fields),
        "message_id": o.message_id,
        "accepted_at": o.accepted_at,
        "identity": o.identity,
        "attempts": [vars_of(a) for a in o.attempts],
        "events": [vars_of(e) for e in o.events],
    }
