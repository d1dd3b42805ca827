"""Warm-up day bookkeeping: a day counts only when enough was sent; idle days step the ramp back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

#: The largest warm-up day an identity may start at or reach: a campaign file's `warmup_day` is refused
#: above it, a day closed there stays there, and a stored state is read within it.
MAX_WARMUP_DAY = 100_000


@dataclass(frozen=True, slots=True)
class ProgressRules:
    """spec/warmup.md section 5, with its defaults."""

    advance_min_fraction: float = 0.5  # a day counts when at least this share of its cap was sent
    idle_grace_days: int = 3  # this many idle days cost nothing
    idle_reset_days: int = 30  # after this many idle days the identity starts again at day 1
    every_sending_day_counts: bool = False  # transactional mode: the table is only a ceiling


@dataclass(frozen=True, slots=True)
class IdentityProgress:
    """Where an identity stands: its warm-up day and the last local date it sent on."""

    warmup_day: int = 1
    last_sending_date: date | None = None
    held_days: int = 0  # sending days that did not count (below the advance threshold)


def idle_days(progress: IdentityProgress, today: date) -> int:
    """Whole local days between the last sending day and `today`, both excluded."""
    if progress.last_sending_date is None:
        return 0
    return max(0, (today - progress.last_sending_date).days - 1)


def effective_day(
    progress: IdentityProgress,
    today: date,
    rules: ProgressRules = ProgressRules(),
) -> int:
    """The warm-up day the identity sends at on `today`, after the idle-decay rule.

    More than `idle_grace_days` idle days step back one warm-up day per further idle day;
    `idle_reset_days` or more start again at day 1. Pure: nothing is stored until a day closes,
    so asking twice (a paused campaign polled by `status`) never decays twice.
    """
    idle = idle_days(progress, today)
    if idle >= rules.idle_reset_days:
        return 1
    if idle > rules.idle_grace_days:
        return max(1, progress.warmup_day - (idle - rules.idle_grace_days))
    return progress.warmup_day


def day_counts(sent: int, daily_cap: int, rules: ProgressRules) -> bool:
    """Whether a day on which `sent` of `daily_cap` went out moves the warm-up a step (section 5)."""
    return sent > 0 and (rules.every_sending_day_counts or sent >= rules.advance_min_fraction * daily_cap)


def close_day(
    progress: IdentityProgress,
    day: date,
    sent: int,
    daily_cap: int,
    rules: ProgressRules = ProgressRules(),
    hold: bool = False,
) -> IdentityProgress:
    """The identity's progress after local date `day` on which it sent `sent` of `daily_cap`.

    `hold` lets a guardrail keep the step (bad quality signals) even when the volume was reached.
    """
    if sent <= 0:
        return progress  # an idle day: decay is computed from the last sending date
    base = effective_day(progress, day, rules)
    if day_counts(sent, daily_cap, rules) and not hold:
        return IdentityProgress(min(base + 1, MAX_WARMUP_DAY), day, progress.held_days)
    return IdentityProgress(base, day, progress.held_days + 1)


def quota_hold(sent: int, daily_cap: int, quota: int | None, rules: ProgressRules = ProgressRules()) -> dict[str, Any]:
    """The `day_held` fields of a day too small to count because Tencent's daily quota kept it under the
    plan's cap it counts against: the quota is below the share a day needs, and the identity sent up to
    it (nearly: Tencent's day is China time's). Empty when the quota was not the cause."""
    if quota is None or quota >= rules.advance_min_fraction * daily_cap or sent < 0.9 * quota:
        return {}
    reason = (
        f"sent {sent:,} of its daily cap {daily_cap:,}: Tencent's quota of {quota:,} a day keeps it under"
        " the share a day needs to advance (the warm-up waits for a higher reputation level)"
    )
    return {"daily_quota": quota, "reason": reason}
