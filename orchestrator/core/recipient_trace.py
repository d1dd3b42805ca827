"""What happened to one recipient: the facts `trace` gathers, and the first one that explains a missing mail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from orchestrator.core import send_status as send_status_codes
from orchestrator.core.clock import utc_text
from orchestrator.core.decisions import BLOCKLIST_CODES, UNCOUNTED, UNSUBSCRIBED_CODES, Action, stopped_at_claim
from orchestrator.core.guardrails import is_data_failure
from orchestrator.core.send_status import describe
from orchestrator.core.text import finite_number

#: What an address-index entry says of a row submit did not load (store/trace_index.py).
KIND_OF_MARK: Final = {"i": "invalid", "d": "duplicate", "s": "suppressed"}
#: How long a mail Tencent accepted may take to be delivered or bounced (Tencent's own troubleshooting).
DELIVERY_WAIT_S: Final = 72 * 3600
#: A history's decision for an accept recorded while the send was in doubt (store/lua/finish.lua writes
#: them): the MessageId a status lookup found (Tencent's records name no campaign, so the mail may be
#: another send's to the same address) ...
RECONCILED_SENT: Final = "reconciled_sent"
#: ... or the send's own late SendEmail answer (certainly its mail).
ACCEPTED_LATE: Final = "accepted_late"
#: How to mail one row alone, after a clause ("once it is fixed, ..."): the same list again mails every
#: recipient again.
ALONE: Final = "submit a campaign file whose recipient file holds only this row (`orchestrate submit ... --new`)"
#: The fix for a row that was not sent: mail that row alone.
MAIL_THIS_ROW: Final = f"to mail it, {ALONE}"
#: The fix for an address Tencent refused as wrong (a failed code naming the address, or a recipient-never one).
CORRECT_ADDRESS: Final = (
    "correct the address, then mail it alone: submit a campaign file whose recipient file holds only the corrected "
    "row (`orchestrate submit ... --new`)"
)
#: The fix for a row submit found invalid (a corrected copy of the whole list would mail every other row again).
CORRECT_ROW: Final = (
    "correct the row, then mail it alone: submit a campaign file whose recipient file holds only the corrected "
    "row (`orchestrate submit ... --new`)"
)
#: The fix for a send left in doubt (the sweeper stopped asking): the operator decides.
DOUBT_FOR_THE_OPERATOR: Final = (
    f"look the address up in Tencent's console (or trace --live); mail the row alone only if no mail left ({ALONE})"
)


def lua_constants() -> dict[str, str]:
    """The decision names finish.lua writes, as placeholders."""
    return {"__RECONCILED_SENT__": f"'{RECONCILED_SENT}'", "__ACCEPTED_LATE__": f"'{ACCEPTED_LATE}'"}


@dataclass(frozen=True, slots=True)
class Dropped:
    """A data row submit did not load: `kind` invalid, duplicate or suppressed; `detail` the reason, first row, list."""

    row: int
    cell: str  # the address as written (invalid), else normalised
    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Place:
    """One row of one campaign's file that held the address."""

    cid: str
    row: int
    index: int | None  # the ledger index; None for a row submit did not load
    kind: str  # loaded | invalid | duplicate | suppressed


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recorded outcome of a recipient's send (store/lua/finish.lua writes them)."""

    at: float
    identity: str
    decision: str
    code: str
    attempt: str
    in_doubt_since: float | None

    @property
    def tries(self) -> int:
        """The tries counted towards max_attempts once this outcome was recorded (as finish.lua counts)."""
        if not self.attempt.isdigit():
            return 0
        action = self.decision.removeprefix("reconciled_")
        never_left = action == "suppressed" and stopped_at_claim(self.code)  # a list stopped it: no call
        return int(self.attempt) - (1 if action in UNCOUNTED or never_left else 0)


def parse_history(raw: str) -> list[Attempt]:
    """A recipient's stored outcomes: "time US identity US decision US code US attempt US since", RS between."""
    out: list[Attempt] = []
    for item in raw.split("\x1e") if raw else []:
        parts = (item.split("\x1f") + [""] * 6)[:6]
        try:
            at = float(parts[0])
            since = float(parts[5]) if parts[5] else None
        except ValueError:
            continue
        out.append(Attempt(at, parts[1], parts[2], parts[3], parts[4], since))
    return out


@dataclass(frozen=True, slots=True)
class Seen:
    """A callback event Tencent sent about the message (or the follow-up's status lookup)."""

    metric: str
    at: float
    bounce_type: str = ""
    reason: str = ""
    source: str = "callback"


@dataclass(frozen=True, slots=True)
class Listed:
    """A suppression or blocklist entry that concerns the address."""

    scope: str  # domain | all | blocklist
    sender_domain: str  # "" unless scope is domain
    reason: str
    source: str  # unsubscribe, complaint, hard_bounce, operator, import; the account for the blocklist
    at: float  # listed at (the bounce, for the blocklist)
    until: float | None = None  # the blocklist's expiry


#: GetSendEmailStatus's DeliverStatus values (docs: accepted and queued, delivered, dropped, rejected, deferred).
QUEUED, DELIVERED, DROPPED, REJECTED, DEFERRED = 0, 1, 2, 3, 8
#: `trace --live`'s answers: MessageId -> Tencent's status rows, or the error of the call.
Live = dict[str, list[dict[str, Any]] | str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One campaign's row as `trace` explains it."""

    place: Place
    campaign_state: str
    sender_domains: tuple[str, ...]
    dropped: Dropped | None = None
    state: str = ""  # the ledger state (LedgerState value) of a loaded row
    fields: tuple[tuple[str, str], ...] = ()
    message_id: str = ""
    accepted_at: float | None = None
    identity: str = ""
    attempts: tuple[Attempt, ...] = ()
    events: tuple[Seen, ...] = ()
    #: The campaign paused itself (a guardrail, a campaign-fatal answer): the reason it gave ("" otherwise).
    self_paused: str = ""
    pause_reason: str = ""  # the reason of a pause a plain resume lifts (the operator's, or a worker's)
    #: In doubt and no longer looked up by the sweeper (undecidable, or its window passed).
    doubt_given_up: bool = False

    def field(self, name: str) -> str:
        return dict(self.fields).get(name, "")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The first thing that explains a missing mail, and what to do about it."""

    campaign: str
    why: str
    fix: str


def _day(at: float) -> str:
    return utc_text(at, seconds=False)


def primary(outcomes: list[Outcome]) -> Outcome:
    """The row that matters: in the latest campaign, the loaded or suppressed row before a duplicate or invalid one."""
    latest = outcomes[-1].place.cid
    mine = [o for o in outcomes if o.place.cid == latest]
    return next((o for o in mine if o.place.kind in ("loaded", "suppressed")), mine[0])


def verdict(
    outcomes: list[Outcome], listed: list[Listed], address: str, now: float, live: Live | None = None
) -> Verdict:
    """The seed's checklist applied to one address, in order; `outcomes` oldest campaign first.

    `live`: Tencent's GetSendEmailStatus rows per MessageId (`trace --live`), or the error of the call.
    """
    o = primary(outcomes)
    cid = o.place.cid
    if o.place.kind == "invalid" and o.dropped is not None:
        why = f"row {o.place.row} of campaign {cid} is not a usable recipient: {o.dropped.detail}"
        return Verdict(cid, why, CORRECT_ROW)
    if o.state == "accepted":
        return _accepted(o, now, (live or {}).get(o.message_id))
    stop = _listing(cid, o.sender_domains, listed, address, now)
    if stop is not None:
        return stop
    return _mailed_before(_unsent(o, now), o, outcomes)


def _mailed_before(v: Verdict, o: Outcome, outcomes: list[Outcome]) -> Verdict:
    """A fix that mails the row, for an address another campaign already had accepted: said, so the second
    mail is a choice, not an accident."""
    earlier = next((x for x in reversed(outcomes) if x is not o and x.state == "accepted"), None)
    if earlier is None or ALONE not in v.fix:
        return v
    when = f" on {_day(earlier.accepted_at)}" if earlier.accepted_at else ""
    note = f" (campaign {earlier.place.cid} already had a mail to it accepted{when}: this would be a second)"
    return Verdict(v.campaign, v.why, v.fix + note)


def list_verdict(listed: list[Listed], address: str, now: float) -> Verdict | None:
    """No campaign keeps a row of the address (none had it, or theirs were compacted): the first list entry
    that stops a mail to it, None without one. Its `campaign` is ""."""
    return _listing("", tuple(e.sender_domain for e in listed if e.scope == "domain"), listed, address, now)


def _listing(
    cid: str, sender_domains: tuple[str, ...], listed: list[Listed], address: str, now: float
) -> Verdict | None:
    for e in listed:
        if e.scope == "blocklist" and (e.until is None or e.until > now):
            until = f" until {_day(e.until)}" if e.until is not None else ""
            why = f"on Tencent's blocklist since {_day(e.at)}{until} ({e.reason or 'a bounce'})"
            return Verdict(cid, why, f"if the address is right: orchestrate blocklist release {address}")
    for e in listed:
        if e.scope == "all":
            why = f"suppressed for every sender domain since {_day(e.at)} ({e.source}: {e.reason})"
            fix = (
                "nothing to do: the recipient reported the mail as spam"
                if e.source == "complaint"
                else f"if the address is right now: orchestrate suppress remove {address}"
            )
            return Verdict(cid, why, fix)
    for e in listed:
        if e.scope == "domain" and e.sender_domain in sender_domains:
            since = _day(e.at)
            why = f"on the suppression list of sender domain {e.sender_domain} since {since} ({e.source}: {e.reason})"
            fix = (
                f"nothing to do: the recipient unsubscribed from {e.sender_domain}"
                if e.source == "unsubscribe"
                else f"if it should be mailed: orchestrate suppress remove {address} --sender-domain {e.sender_domain}"
            )
            return Verdict(cid, why, fix)
    return None


def _dropped(o: Outcome) -> Verdict:
    cid, d = o.place.cid, o.dropped
    detail = d.detail if d is not None else ""
    if o.place.kind == "duplicate":
        why = f"row {o.place.row} repeats row {detail or '?'} of campaign {cid}: one mail per address"
        return Verdict(cid, why, "nothing to do")
    return Verdict(cid, f"suppressed at submit ({detail}); the entry is gone now", MAIL_THIS_ROW)


def _unsent(o: Outcome, now: float) -> Verdict:
    cid = o.place.cid
    if o.place.kind in ("suppressed", "duplicate"):
        return _dropped(o)
    if o.state == "suppressed":
        return _suppressed(cid, o.field("reason"))
    if o.state == "failed":
        code = o.field("code")
        return Verdict(cid, f"failed: Tencent answered {code}", _failed_fix(code))
    if o.state == "in_doubt":
        since = o.field("since")
        at = _day(n) if (n := finite_number(since)) is not None else "?"
        if o.doubt_given_up:
            why = f"in doubt since {at}: the send may have reached Tencent, whose records could not settle it"
            return Verdict(cid, why, DOUBT_FOR_THE_OPERATOR)
        why = f"in doubt since {at}: the send may have reached Tencent; the sweeper asks Tencent and settles it"
        return Verdict(
            cid, why, "wait: it is never sent twice blindly (see `orchestrate status` for the in-doubt count)"
        )
    return _waiting(o)


def _suppressed(cid: str, reason: str) -> Verdict:
    """A loaded row the ledger suppressed, no list entry stopping it now. `reason`: the list that stopped it
    at claim time (`blocklist`, `all:<source>`, `domain:<source>`), or Tencent's recipient-never code."""
    if not reason or stopped_at_claim(reason):
        return Verdict(
            cid, f"not sent: suppressed just before sending ({reason}); the entry is gone now", MAIL_THIS_ROW
        )
    if reason in BLOCKLIST_CODES | UNSUBSCRIBED_CODES:  # the list entry the refusal made is gone since
        return Verdict(cid, f"not sent: Tencent refused it ({reason}); the list entry is gone now", MAIL_THIS_ROW)
    return Verdict(cid, f"not sent: Tencent refused the address ({reason})", CORRECT_ADDRESS)


def _waiting(o: Outcome) -> Verdict:
    """A loaded row not sent yet: what its campaign's state says about it."""
    cid = o.place.cid
    if o.campaign_state == "paused" and o.self_paused:
        why = f"not sent yet: campaign {cid} paused itself ({o.self_paused})"
        return Verdict(cid, why, f'fix what it names, then: orchestrate resume {cid} --ack "what was done about it"')
    if o.campaign_state in ("paused", "cancelled", "completed"):
        why = f"not sent yet: campaign {cid} is {o.campaign_state}" + (f" ({o.pause_reason})" if o.pause_reason else "")
        return Verdict(cid, why, f"orchestrate resume {cid}" if o.campaign_state == "paused" else MAIL_THIS_ROW)
    last = o.attempts[-1] if o.attempts else None
    if last is not None and last.decision in (Action.POSTPONE, Action.RETRY):  # Tencent put it off
        why = f"not sent yet: Tencent answered {last.code} at {_day(last.at)}; it goes again once that wait is over"
        return Verdict(cid, why, f"wait: see `orchestrate status {cid}` for the next send")
    why = f"not sent yet: waiting for its turn in the warm-up plan (campaign {cid} is {o.campaign_state or 'unknown'})"
    return Verdict(cid, why, f"wait: see `orchestrate status {cid}` for today's caps")


def _failed_fix(code: str) -> str:
    if is_data_failure(code) or code.startswith("FailedOperation.Template"):
        return f"its template data: {CORRECT_ROW} (when many rows fail alike, template.data in the file is the cause)"
    if "Receiver" in code or "EmailAddress" in code:
        return CORRECT_ADDRESS
    return f"look up {code} in Tencent's error codes; once it is fixed, {ALONE}"


def _accepted(o: Outcome, now: float, live: list[dict[str, Any]] | str | None = None) -> Verdict:
    cid = o.place.cid
    sent = f"accepted by Tencent at {_day(o.accepted_at)}" if o.accepted_at else "accepted by Tencent"
    by_metric = {e.metric: e for e in o.events}
    for metric, fix in _BAD_EVENTS:
        e = by_metric.get(metric)
        if e is not None:
            reason = f": {e.reason}" if e.reason else ""
            return Verdict(cid, f"{sent}, then {metric.replace('_', ' ')} at {_day(e.at)}{reason}", fix)
    if "delivered" in by_metric:
        why = f"{sent}, delivered at {_day(by_metric['delivered'].at)} (the recipient's server took it)"
        return Verdict(cid, why, "nothing to do here: ask the recipient to look in spam or other folders")
    answer = _live_answer(o, sent, live)
    return answer if answer is not None else _no_event(o, sent, now, live)


def _no_event(o: Outcome, sent: str, now: float, live: list[dict[str, Any]] | str | None) -> Verdict:
    """An accepted mail no event explains and Tencent's record (if asked: `live`) does not either."""
    cid = o.place.cid
    recent = o.accepted_at is not None and now - o.accepted_at < DELIVERY_WAIT_S
    until = f"wait until {_day(o.accepted_at + DELIVERY_WAIT_S)}" if o.accepted_at is not None else "wait"
    if isinstance(live, str):  # asked, and the lookup failed: make it work first
        why = f"{sent} ({o.message_id}), no delivery event yet, and Tencent's record could not be read ({live})"
        fix = "fix the lookup (credentials, network: orchestrate check), then ask again with trace --live"
        return Verdict(cid, why, f"{until}, or {fix}" if recent else fix)
    if live is not None:  # asked: Tencent has no record of the MessageId
        if recent:
            why = f"{sent} ({o.message_id}), no delivery event and no record at Tencent yet: mail may take up to 72 h"
            return Verdict(cid, why, f"{until}, then ask again with trace --live")
        why = f"{sent} ({o.message_id}), no delivery event after 72 h, and Tencent has no record of it"
        return Verdict(cid, why, f"ask Tencent's support about MessageId {o.message_id}; check the callback address")
    if recent:
        why = f"{sent} ({o.message_id}), no delivery event yet: mail may take up to 72 h"
        return Verdict(cid, why, f"{until}, or ask Tencent: trace --live")
    why = f"{sent} ({o.message_id}), no delivery event after 72 h"
    return Verdict(cid, why, "ask Tencent with trace --live; check the callback address in the SES console")


def _live_answer(o: Outcome, sent: str, live: list[dict[str, Any]] | str | None) -> Verdict | None:
    """What Tencent's own record (`trace --live`) says of a mail no event explains; None without one."""
    if not isinstance(live, list) or not live:
        return None
    row = next((r for r in live if r.get("MessageId") == o.message_id), live[0])
    status, message = row.get("DeliverStatus"), row.get("DeliverMessage") or ""
    detail = f": {message}" if message else ""
    refused = row.get("SendStatus")
    if isinstance(refused, int) and refused != 0:
        why = f"{sent}, yet Tencent's record says it did not send it: {describe(refused)}{detail}"
        fix = _refused_fix(refused)
    elif status == DELIVERED:
        at = row.get("DeliverTime")
        when = _day(float(at)) if isinstance(at, int | float) and at > 0 else str(at or "?")
        why = f"{sent}, delivered at {when} by Tencent's record (no delivered event came)"
        fix = "nothing to do here: ask the recipient to look in spam; check the callback address"
    elif status in (DROPPED, REJECTED):
        by = "dropped by Tencent" if status == DROPPED else "rejected by the recipient's mail server"
        why, fix = f"{sent}, then {by} by Tencent's record{detail}", f"once what it names is fixed, {ALONE}"
    elif status == DEFERRED:
        why = f"{sent}, deferred by the recipient's mail server by Tencent's record{detail}"
        fix = "wait: Tencent tries a deferred mail again"
    elif status == QUEUED:
        why, fix = (
            f"{sent}, queued at Tencent by its record: not delivered yet",
            "wait, then ask again with trace --live",
        )
    else:
        return None
    return Verdict(o.place.cid, why, fix)


def _refused_fix(send_status: int) -> str:
    """What to do about a mail Tencent accepted and then did not send (its SendStatus)."""
    if send_status == send_status_codes.BLOCKLISTED:
        return f"`orchestrate blocklist release ADDRESS` if the address is right, then {ALONE}"
    if send_status == send_status_codes.UNSUBSCRIBED:
        return "nothing to do: the recipient unsubscribed from this sender domain"
    return f"once what it names is fixed, {ALONE}"


_BAD_EVENTS: Final = (
    ("hard_bounce", f"the address does not take mail: {CORRECT_ADDRESS}"),
    ("complaint", "nothing to do: the recipient reported the mail as spam"),
    ("unsubscribe", "nothing to do: the recipient unsubscribed"),
    ("dropped", f"Tencent dropped it (see the reason): once what it names is fixed, {ALONE}"),
    ("soft_bounce", "a temporary refusal: the recipient's server may take a later mail"),
)
