"""A campaign's states and the one table of who may move it from what to what.

Every writer follows this table: the operator's pause, resume and cancel, the automatic pause
(a campaign-fatal answer from Tencent, a guardrail), the completion, and submit's creation. The Lua
scripts that change or test a campaign's state get the state names and the allowed sources from
here (`lua_constants`, substituted when a script is loaded), and a test checks both sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CampaignState(StrEnum):
    RUNNING = "running"  # the pacer grants sends
    PAUSED = "paused"  # nothing new is granted; a granted send is put back unsent
    COMPLETED = "completed"  # every recipient has an outcome
    CANCELLED = "cancelled"  # stopped for good; the ledger is kept for the record


#: The states in which a campaign still paces its identities and may send again (StrEnum members: a stored
#: state string is found in it as well).
UNFINISHED = frozenset({CampaignState.RUNNING, CampaignState.PAUSED})


class Transition(StrEnum):
    """Each way a campaign's state changes, named by who or what makes it."""

    PAUSE = "pause"  # the operator, or a worker that sends elsewhere than the campaign's mail went (workers/send.py)
    RESUME = "resume"  # the operator
    CANCEL = "cancel"  # the operator
    AUTO_PAUSE = "auto_pause"  # a campaign-fatal answer or a guardrail, with the reason
    COMPLETE = "complete"  # the pacer, once nothing is queued, granted, in flight or awaiting a lookup


#: Who made an automatic pause (`paused_by`): resuming it needs the operator's acknowledgement.
AUTOMATIC = "automatic"
#: Who paused a campaign because its worker sends elsewhere than its mail is bound to (`paused_by`): a plain
#: resume lifts it, and unbinds the campaign (its next claim binds it where that worker sends).
ELSEWHERE = "worker"


@dataclass(frozen=True, slots=True)
class Rule:
    to: CampaignState
    sources: frozenset[CampaignState]
    event: str  # the event the change is recorded as
    by: str = ""  # fixed author ("automatic"), or "" when the caller names one
    #: Also made when the campaign is already in `to` by another author (and then records its reason and
    #: author): an automatic pause landing on the operator's pause is not lost, its resume needs the ack.
    retakes: bool = False


S = CampaignState
TABLE: dict[Transition, Rule] = {
    Transition.PAUSE: Rule(S.PAUSED, frozenset({S.RUNNING}), "campaign_paused"),
    Transition.RESUME: Rule(S.RUNNING, frozenset({S.PAUSED}), "campaign_resumed"),
    Transition.CANCEL: Rule(S.CANCELLED, frozenset({S.RUNNING, S.PAUSED}), "campaign_cancelled"),
    Transition.AUTO_PAUSE: Rule(S.PAUSED, frozenset({S.RUNNING}), "campaign_paused", by=AUTOMATIC, retakes=True),
    Transition.COMPLETE: Rule(S.COMPLETED, frozenset({S.RUNNING}), "campaign_completed"),
}

#: A new campaign starts here (submit refuses a file with no recipient left, so there is no
#: "completed at birth").
INITIAL = S.RUNNING
#: The only state in which sends are granted and a granted send may go out.
SENDING = S.RUNNING


class Outcome(StrEnum):
    OK = "ok"  # the state changed
    SAME = "same"  # already there: a repeated command is not an error
    REFUSED = "refused"  # not allowed from the current state
    MISSING = "missing"  # no such campaign
    NEEDS_ACK = "needs_ack"  # paused automatically, and the caller brought no acknowledgement


def apply(transition: Transition, current: CampaignState, paused_by: str = "") -> Outcome:
    """What `transition` does to a campaign in `current`, put there by `paused_by` (the rule the stored
    scripts also follow)."""
    rule = TABLE[transition]
    if current is rule.to:
        return Outcome.OK if rule.retakes and paused_by != rule.by else Outcome.SAME
    return Outcome.OK if current in rule.sources else Outcome.REFUSED


def lua_constants() -> dict[str, str]:
    """Placeholders the Lua scripts are written with, and what they stand for."""
    out = {f"__CAMPAIGN_{s.name}__": f"'{s.value}'" for s in CampaignState}
    for t, rule in TABLE.items():
        sources = ", ".join(f"['{s.value}'] = true" for s in sorted(rule.sources))
        out[f"__{t.name}_FROM__"] = "({" + sources + "})"  # parenthesised: Lua indexes it in place
        out[f"__{t.name}_TO__"] = f"'{rule.to.value}'"
        out[f"__{t.name}_RETAKES__"] = "true" if rule.retakes else "false"
    return out
