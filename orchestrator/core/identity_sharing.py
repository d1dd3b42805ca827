"""One identity, one way of pacing it: what unfinished campaigns that share an identity must agree on.

An identity's warm-up state is its own, not a campaign's: its day and hour counters, its warm-up day,
its day roll (with the holds the guardrails decide) and its provider groups' shaping are shared by every
campaign that sends from it. Each campaign checks those counters against its own caps and pool. Two
campaigns that pace one identity differently would each keep their own rules on the shared counters,
so together they could break both: a pool of six identities whose ceiling binds shares out 833 a day
each while another campaign with five of them gives each 1,000 (5,833 over the six, above the first
pool's 5,000); a transactional campaign's day roll advances a warm-up campaign's identity on a day that
did not reach its share. Submit refuses such a campaign (store/identities.check_campaign).
"""

from __future__ import annotations

from orchestrator.core.campaign import Campaign

#: The campaign file's keys that decide how an identity is paced: its day boundary (timezone), its caps
#: and warm-up days (mode, plan), its pool's ceiling (pool), its day roll's holds (content, guardrails)
#: and its provider groups' shares and backoffs (shaping).
PACING_KEYS = ("timezone", "mode", "plan", "pool", "content", "guardrails", "shaping")


def _identities(spec: Campaign) -> dict[str, str]:
    """The pool: its identities and their accounts. Not `daily_quota`: it is Tencent's quota of the day the
    file was written, stored on the identity for every campaign and replaced by the live one the pacer
    reads, so a later file naming a raised quota paces the shared identity no differently."""
    return {i.id: i.account for i in spec.identities}


def pacing_differences(new: Campaign, other: Campaign) -> list[str]:
    """The keys whose values differ between two campaigns that share an identity, in the file's order:
    `identities` when their sets (or an identity's account) differ, then PACING_KEYS."""
    out = ["identities"] if _identities(new) != _identities(other) else []
    out += [key for key in PACING_KEYS if getattr(new, key) != getattr(other, key)]
    return out
