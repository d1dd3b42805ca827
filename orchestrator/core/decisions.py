"""What the pipeline does with each send outcome: a pure table from outcome class to ledger action."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from orchestrator.core.calendar import TENCENT_ZONE, midnight_after
from orchestrator.core.retry import backoff_with_jitter_s
from orchestrator.core.sending import OutcomeKind, SendOutcome

#: Tencent blocks more than 10 mails an hour to one address: wait at least this long.
RECIPIENT_LATER_MIN_S = 3600.0
#: A receiving domain's temporary block lasts about 10 minutes.
DOMAIN_LATER_MIN_S = 600.0
#: No answer puts a send off longer than this: a longer wait can only come from a damaged store (an
#: API budget's slot set far ahead by hand), and the recipient would otherwise wait for ever.
POSTPONE_MAX_S = 86_400.0
#: A send our own API budget could not place waits at least this long before it is granted again.
NOT_CALLED_MIN_S = 1.0
#: Tencent refused a call over its API rate limit (counted per second): wait this long plus up to as
#: much again at random, so the refused sends do not all come back in the same second.
THROTTLED_MIN_S = 1.0
#: The first status lookup of an in-doubt send waits for Tencent's log to settle.
FIRST_RECONCILE_AFTER_S = 60.0
#: A lookup that could not decide is asked again after this long; one that was throttled, or
#: could not connect, much sooner; after the window the send is left in doubt for the operator.
RECONCILE_RETRY_S = 60.0
RECONCILE_THROTTLED_RETRY_S = 5.0
RECONCILE_WINDOW_S = 6 * 3600.0

#: Codes after which the address is never mailed again by any identity (Tencent's blocklist etc.).
BLOCKLIST_CODES = frozenset({"FailedOperation.EmailAddrInBlacklist", "FailedOperation.RejectedByRecipients"})
UNSUBSCRIBED_CODES = frozenset({"FailedOperation.ReceiverHasUnsubscribed"})


class Action(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    POSTPONE = "postpone"  # never called: back after ready_at, the attempt not counted
    REQUEUE = "requeue"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    IN_DOUBT = "in_doubt"
    PAUSE = "pause"


#: Outcomes after which the try is not counted towards max_attempts (store/lua/finish.lua, given them
#: as `__UNCOUNTED__`, requeues with the attempt less one): the call never left, Tencent deferred
#: the mail, or it went back.
UNCOUNTED = frozenset({Action.POSTPONE, Action.REQUEUE, Action.PAUSE})


def lua_constants() -> dict[str, str]:
    """`__UNCOUNTED__`: the actions finish.lua requeues without counting the try, as a Lua set."""
    members = ", ".join(f"['{a.value}'] = true" for a in sorted(UNCOUNTED))
    return {"__UNCOUNTED__": "({" + members + "})"}  # parenthesised: Lua indexes it in place


class SideEffect(StrEnum):
    NONE = "none"
    BLOCK_DOMAIN = "block_domain"  # hold the recipient's domain group until `until`
    STOP_IDENTITY = "stop_identity"  # the identity sends no more today
    BLOCKLIST = "blocklist"  # no identity may mail the address again
    UNSUBSCRIBED = "unsubscribed"  # this sender domain may not mail the address again


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    value: str = ""  # MessageId, error code or reason
    ready_at: float = 0.0  # retry / reconciliation time
    refund: bool = False  # the mail certainly did not leave: give the budget back
    effect: SideEffect = SideEffect.NONE
    until: float = 0.0  # for BLOCK_DOMAIN
    detail: str = ""


#: The outcomes Tencent (or our own API budget) answered without taking the mail: waiting is the whole
#: cure, so the later try uses up no attempt, and the shortest wait for each.
_POSTPONED_MIN_S: dict[OutcomeKind, float] = {
    OutcomeKind.NOT_CALLED: NOT_CALLED_MIN_S,
    OutcomeKind.THROTTLED: THROTTLED_MIN_S,
    OutcomeKind.RECIPIENT_LATER: RECIPIENT_LATER_MIN_S,
    OutcomeKind.DOMAIN_LATER: DOMAIN_LATER_MIN_S,
}


def decide(  # noqa: PLR0911 - one return per outcome class reads as the table it is
    outcome: SendOutcome,
    attempt: int,
    now: float,
    max_attempts: int,
    base_delay_s: float,
    max_delay_s: float,
    rnd: random.Random,
    reconcile_after_s: float = FIRST_RECONCILE_AFTER_S,
) -> Decision:
    """The ledger action for `outcome` of try number `attempt` (1-based) made at `now`."""
    code = outcome.code or outcome.kind.value
    kind = outcome.kind
    if kind is OutcomeKind.ACCEPTED:
        return Decision(Action.ACCEPTED, value=outcome.message_id or "")
    if kind in _POSTPONED_MIN_S:
        return _postponed(outcome, code, now, rnd)
    if kind is OutcomeKind.IN_DOUBT:
        return Decision(Action.IN_DOUBT, value=code, ready_at=now + reconcile_after_s, detail=outcome.detail)
    if kind is OutcomeKind.CAMPAIGN_FATAL:
        return Decision(Action.PAUSE, value=code, refund=True, detail=f"{code}: {outcome.detail}".strip(": "))
    if kind is OutcomeKind.IDENTITY_TODAY:
        return Decision(Action.REQUEUE, value=code, refund=True, effect=SideEffect.STOP_IDENTITY)
    if kind is OutcomeKind.RECIPIENT_NEVER:
        return never_again(code)
    if kind is OutcomeKind.RECIPIENT_DATA or attempt >= max_attempts:
        return Decision(Action.FAILED, value=code, refund=True, detail=outcome.detail)
    # TRANSIENT and anything new: back off and try again.
    delay = backoff_with_jitter_s(attempt, base_delay_s, max_delay_s, rnd)
    return Decision(Action.RETRY, value=code, ready_at=now + delay, refund=True)


def never_again(code: str) -> Decision:
    """Tencent refused to mail the address for good (`code`): suppressed, the budget given back, and
    the address kept on the blocklist mirror or the sender domain's list as the code says."""
    effect = SideEffect.NONE
    if code in BLOCKLIST_CODES:
        effect = SideEffect.BLOCKLIST
    elif code in UNSUBSCRIBED_CODES:
        effect = SideEffect.UNSUBSCRIBED
    return Decision(Action.SUPPRESSED, value=code, refund=True, effect=effect)


def stopped_at_claim(reason: str) -> bool:
    """Whether a suppressed recipient's reason names the list that stopped it at claim time (`blocklist`,
    `all:<source>`, `domain:<source>`, store/suppression.reason_code), not Tencent's refusal of a call."""
    return reason == "blocklist" or reason.startswith(("all:", "domain:"))


def _postponed(outcome: SendOutcome, code: str, now: float, rnd: random.Random) -> Decision:
    """A send answered without the mail being taken: back after its wait, no try used up, the budget given back.

    Our own API budget had no slot (NOT_CALLED); Tencent refused the call over its API rate limit
    (THROTTLED: spread over a second more at random, so the refused sends do not return together);
    Tencent deferred the mail (RECIPIENT_LATER: too many to the address this hour; DOMAIN_LATER: the
    receiving domain's temporary block, which holds the domain's group too). A recipient is never failed
    for any of these: it stays pending until it goes (or `cancel`).
    """
    delay = max(outcome.defer_s or 0.0, _POSTPONED_MIN_S[outcome.kind])
    delay = min(delay, POSTPONE_MAX_S) if math.isfinite(delay) else POSTPONE_MAX_S
    if outcome.kind is OutcomeKind.THROTTLED:
        delay += rnd.uniform(0.0, THROTTLED_MIN_S)
    if outcome.kind is OutcomeKind.DOMAIN_LATER:
        return Decision(
            Action.POSTPONE,
            value=code,
            ready_at=now + delay,
            refund=True,
            effect=SideEffect.BLOCK_DOMAIN,
            until=now + delay,
        )
    return Decision(Action.POSTPONE, value=code, ready_at=now + delay, refund=True)


def identity_resume_at(now: float, zone: ZoneInfo) -> float:
    """When an identity whose daily quota ran out at `now` may send again: once its day and Tencent's have turned.

    The campaign's next midnight alone is not enough: in Seoul, 00:00 is 23:00 in China, so the quota
    is still spent and the first send of the new day would be refused again, stopping the identity
    for a whole day more.
    """
    # Tencent counts a sender domain's daily quota in China time, whatever the campaign's time zone.
    return max(midnight_after(now, zone), midnight_after(now, TENCENT_ZONE))
