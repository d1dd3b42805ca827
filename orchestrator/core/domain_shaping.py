"""Per-recipient-domain shaping (spec/warmup.md section 4): each provider group's own warm-up and backoff.

Until an identity passes `shaping.per_domain_from_day` or `per_domain_from_daily`, recipients go in
random order and only `max_domain_share` spreads the domains. From then on every provider group has,
per identity, a warm-up day of its own: it starts at the identity's day when shaping begins, moves on
after each sending day on which the group sent at least `advance_min_fraction` of its cap with no
guardrail holding it, and stays put otherwise. Its caps are the plan's caps at that day, never above
the identity's. A temporary block from the provider, or a burst of deferrals, cuts the group back at
once, the way an MTA's backoff mode does: nothing for `BLOCK_S`, then a reduced rate restored step
by step (`BACKOFF_STEPS`), each step held `STEP_S` without new trouble.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from orchestrator.core.plan import Caps, Plan, times

#: After a block: nothing to the group for this long (Tencent stops a provider ~10 minutes).
BLOCK_S = 600.0
#: Then the group's hourly cap is multiplied by each factor in turn, each for STEP_S seconds.
BACKOFF_STEPS = (0.25, 0.5, 0.75)
STEP_S = 1800.0
#: A burst of deferrals: at least this many deferrals or soft bounces from one group within
#: DEFERRAL_WINDOW_S, making at least DEFERRAL_SHARE of its outcomes there, counts as a block
#: (the defaults of `shaping.deferral_burst`, `deferral_share`, `deferral_window_s`).
DEFERRAL_BURST = 5
DEFERRAL_SHARE = 0.2
DEFERRAL_WINDOW_S = 600.0
#: Deferrals and outcomes are counted per identity and group in buckets of this many seconds of
#: their arrival (store/lua/callback.lua); a window reads the whole buckets it covers.
DEFERRAL_BUCKET_S = 60
#: The metrics a burst counts (a deferral or a soft bounce), and every metric that is an outcome.
DEFERRING = frozenset({"deferred", "soft_bounce"})
OUTCOMES = frozenset({"delivered", "dropped", "hard_bounce", *DEFERRING})
DEFERRAL_BURST_REASON = "a deferral burst"


def shaping_active(identity_day: int, identity_daily: int, from_day: int, from_daily: int) -> bool:
    """Whether per-domain shaping applies to an identity at this warm-up day and daily cap."""
    return identity_day >= from_day or identity_daily >= from_daily


@dataclass(frozen=True, slots=True)
class GroupState:
    """One provider group's standing with one identity."""

    day: int  # the group's own warm-up day
    blocked_at: float | None = None  # the last block or deferral burst
    reason: str = ""  # why it was cut back, for `status`

    def factor(self, now: float) -> float:
        """The share of its hourly cap the group may use at `now` (0 while blocked, 1 when recovered)."""
        if self.blocked_at is None:
            return 1.0
        since = now - self.blocked_at
        if since < BLOCK_S:
            return 0.0
        step = int((since - BLOCK_S) // STEP_S)
        return BACKOFF_STEPS[step] if step < len(BACKOFF_STEPS) else 1.0

    def recovered_at(self) -> float | None:
        """When the backoff ends (None: not backing off)."""
        if self.blocked_at is None:
            return None
        return self.blocked_at + BLOCK_S + STEP_S * len(BACKOFF_STEPS)

    def next_change(self, now: float) -> float | None:
        """When `factor` next changes after `now` (None when it no longer will)."""
        if self.blocked_at is None:
            return None
        for edge in (self.blocked_at + BLOCK_S + STEP_S * i for i in range(len(BACKOFF_STEPS) + 1)):
            if edge > now:
                return edge
        return None


def start_group(identity_day: int) -> GroupState:
    """A group entering per-domain shaping: it has had its random share so far, so it starts where the identity is."""
    return GroupState(day=max(1, identity_day))


def group_caps(plan: Plan, state: GroupState, identity: Caps, now: float, share: float = 0.0) -> Caps:
    """The group's caps with this identity at `now`: the plan at its own day, cut by any backoff. A backoff
    cuts what the group may send in an hour: its hourly cap, and no more than its `share` of the identity's
    hour (`max_domain_share`, which holds it while other groups wait), so a quarter is a quarter of what it
    sends, not of a cap it never reaches beside the others."""
    own = plan.caps(state.day).min(identity)
    factor = state.factor(now)
    if factor >= 1.0:
        return own
    if factor <= 0.0:
        return Caps(0, 0)
    base = own.hourly if share <= 0.0 else min(own.hourly, max(1, times(identity.hourly, share)))
    return Caps(own.daily, max(1, times(base, factor)))


def on_block(state: GroupState, now: float, reason: str) -> GroupState:
    """A temporary block or a deferral burst: start the backoff again from the beginning."""
    return replace(state, blocked_at=now, reason=reason)


def roll_day(state: GroupState, sent: int, cap: int, min_fraction: float, held: str | None) -> tuple[GroupState, str]:
    """The group's day at midnight: advance on a full enough, clean day; say why it did not otherwise."""
    if held:
        return state, held
    if cap <= 0 or sent < times(cap, min_fraction):
        return state, f"sent {sent:,} of its cap {cap:,}"
    return replace(state, day=state.day + 1, reason="" if state.blocked_at is None else state.reason), ""


def deferral_burst(deferrals: int, outcomes: int, burst: int = DEFERRAL_BURST, share: float = DEFERRAL_SHARE) -> bool:
    """Whether deferrals within the window are a burst: enough of them and a large enough share."""
    return deferrals >= burst and deferrals >= share * max(outcomes, 1)


def outcome_kind(metric: str) -> str:
    """How an event counts towards a burst: "d" a deferral (an outcome too), "o" another outcome, "" neither."""
    if metric in DEFERRING:
        return "d"
    return "o" if metric in OUTCOMES else ""


def deferral_buckets(now: float, window_s: float, blocked_at: float | None) -> range:
    """The buckets a burst check reads at `now`: the window's, none that began before the last block.

    A block starts the count again: the deferrals that caused it do not cause another.
    """
    first = int((now - window_s) // DEFERRAL_BUCKET_S) + 1
    if blocked_at is not None:
        first = max(first, -int(-blocked_at // DEFERRAL_BUCKET_S))  # the first bucket starting at or after it
    return range(first, int(now // DEFERRAL_BUCKET_S) + 1)
