"""The caps in force for a campaign at a moment: effective warm-up days, fair shares, pool ceiling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from orchestrator.core.calendar import LocalTime, local_time
from orchestrator.core.campaign import Campaign
from orchestrator.core.plan import RAMPED, Mode, PoolAllocation, allocate_pool, ranks_of
from orchestrator.core.progress import IdentityProgress, effective_day


class IdentityStanding(Protocol):
    """What the budget reads of an identity's stored warm-up state."""

    @property
    def progress(self) -> IdentityProgress: ...

    @property
    def quota(self) -> int | None: ...


def budget_now(
    spec: Campaign, states: Mapping[str, IdentityStanding], now: float, quotas: bool = True
) -> tuple[LocalTime, list[int], PoolAllocation]:
    """The same caps the pacer uses at `now`: effective warm-up days, fair shares, pool ceiling.

    `quotas` False: without Tencent's daily quotas.
    """
    lt = local_time(now, spec.zone, spec.window)
    rules = spec.plan.progress_rules(spec.mode)
    ids = [i.id for i in spec.identities]
    days = [effective_day(states[i].progress, lt.date, rules) if i in states else 1 for i in ids]
    daily_quotas = [states[i].quota if i in states and quotas else None for i in ids]
    alloc = allocate_pool(
        spec.build_plan(),
        spec.mode,
        days,
        daily_quotas,
        spec.pool.multiplier,
        rotate=lt.date.toordinal(),
        ranks=ranks_of(ids),
    )
    return lt, days, alloc


def quota_counts(mode: Mode) -> bool:
    """Whether Tencent's daily quota lowers the cap a day counts against (spec section 5): not where the
    mode has a ramp (a day the quota held down proves no more volume than it sent: the warm-up day does
    not run ahead of it); otherwise it does (shared, skip-warmup: no plan to climb)."""
    return mode not in RAMPED


def day_caps(spec: Campaign, states: Mapping[str, IdentityStanding], now: float) -> PoolAllocation:
    """The caps each identity's day counts against at `now`: the plan's and its pool share, with Tencent's
    quota as `quota_counts` says (`core/preview.py` projects the same rule over the coming days)."""
    return budget_now(spec, states, now, quotas=quota_counts(spec.mode))[2]
