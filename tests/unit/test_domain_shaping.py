"""Per-domain shaping rules: when it starts, a group's caps, its backoff after a block, its day roll."""

from __future__ import annotations

import pytest

from orchestrator.core.domain_shaping import (
    BLOCK_S,
    STEP_S,
    GroupState,
    deferral_buckets,
    deferral_burst,
    group_caps,
    on_block,
    outcome_kind,
    roll_day,
    shaping_active,
    start_group,
)
from orchestrator.core.plan import Caps, Plan

PLAN = Plan()
T0 = 1_800_000_000.0


@pytest.mark.parametrize(
    ("day", "daily", "active"),
    [(1, 500, False), (5, 4000, False), (6, 4000, True), (3, 5000, True), (3, 4999, False)],
)
def test_shaping_starts_at_the_day_or_the_volume_whichever_first(day: int, daily: int, active: bool) -> None:
    assert shaping_active(day, daily, from_day=6, from_daily=5000) is active


@pytest.mark.parametrize(
    ("offset", "factor"),
    [
        (0.0, 0.0),
        (BLOCK_S - 1, 0.0),
        (BLOCK_S, 0.25),
        (BLOCK_S + STEP_S - 1, 0.25),
        (BLOCK_S + STEP_S, 0.5),
        (BLOCK_S + 2 * STEP_S, 0.75),
        (BLOCK_S + 3 * STEP_S, 1.0),
    ],
)
def test_backoff_steps_back_up_after_a_block(offset: float, factor: float) -> None:
    state = on_block(start_group(8), T0, "FailedOperation.TemporaryBlocked")
    assert state.factor(T0 + offset) == factor


def test_next_change_walks_the_edges_then_stops() -> None:
    state = on_block(start_group(8), T0, "blocked")
    assert state.next_change(T0) == T0 + BLOCK_S
    assert state.next_change(T0 + BLOCK_S) == T0 + BLOCK_S + STEP_S
    assert state.next_change(T0 + BLOCK_S + 3 * STEP_S) is None
    assert state.recovered_at() == T0 + BLOCK_S + 3 * STEP_S
    assert start_group(1).next_change(T0) is None


def test_group_caps_follow_its_own_day_never_above_the_identity() -> None:
    identity = PLAN.caps(10)
    lagging = GroupState(day=3)
    assert group_caps(PLAN, lagging, identity, T0) == PLAN.caps(3)
    assert group_caps(PLAN, GroupState(day=20), identity, T0) == identity
    blocked = on_block(lagging, T0, "blocked")
    assert group_caps(PLAN, blocked, identity, T0 + 1) == Caps(0, 0)
    quarter = group_caps(PLAN, blocked, identity, T0 + BLOCK_S)
    assert quarter == Caps(PLAN.caps(3).daily, PLAN.caps(3).hourly // 4)


def test_a_backoff_cuts_what_the_group_sends_beside_the_others() -> None:
    """A group at the identity's day has the identity's hourly cap, but sends at most its domain share of
    the hour while others wait: a quarter of the cap (25 %) slowed a group at its 30 % share hardly at all.
    The backoff takes its steps from the share; a group not yet backing off keeps its whole cap."""
    identity = Caps(20_000, 1_000)
    blocked = on_block(GroupState(day=30), T0, "blocked")
    assert PLAN.caps(30).min(identity) == identity
    assert group_caps(PLAN, blocked, identity, T0 + BLOCK_S, share=0.3) == Caps(20_000, 75)  # 25 % of 300
    assert group_caps(PLAN, blocked, identity, T0 + BLOCK_S) == Caps(20_000, 250)  # no share: of the cap
    assert group_caps(PLAN, blocked, identity, T0 + BLOCK_S, share=1.0) == Caps(20_000, 250)
    assert group_caps(PLAN, GroupState(day=30), identity, T0, share=0.3) == identity


@pytest.mark.parametrize(
    ("sent", "cap", "held", "day", "why"),
    [
        (500, 1000, None, 5, ""),  # half its cap: advances
        (499, 1000, None, 4, "sent 499 of its cap 1,000"),
        (1000, 1000, "hard_bounce: 7.00 % ...", 4, "hard_bounce: 7.00 % ..."),
        (0, 0, None, 4, "sent 0 of its cap 0"),
    ],
)
def test_roll_day(sent: int, cap: int, held: str | None, day: int, why: str) -> None:
    state, reason = roll_day(GroupState(day=4), sent, cap, 0.5, held)
    assert (state.day, reason) == (day, why)


@pytest.mark.parametrize(
    ("deferrals", "outcomes", "burst"),
    [(4, 4, False), (5, 25, True), (5, 26, False), (30, 100, True), (0, 0, False)],
)
def test_deferral_burst(deferrals: int, outcomes: int, burst: bool) -> None:
    assert deferral_burst(deferrals, outcomes) is burst


@pytest.mark.parametrize(
    ("deferrals", "outcomes", "burst", "share", "is_burst"),
    [(9, 10, 10, 0.2, False), (10, 50, 10, 0.2, True), (3, 6, 3, 0.5, True), (3, 7, 3, 0.5, False)],
)
def test_deferral_burst_follows_the_campaign_thresholds(
    deferrals: int, outcomes: int, burst: int, share: float, is_burst: bool
) -> None:
    """`shaping.deferral_burst` and `deferral_share` replace the defaults."""
    assert deferral_burst(deferrals, outcomes, burst, share) is is_burst


def test_outcome_kind_counts_deferrals_and_soft_bounces() -> None:
    """Deferrals and soft bounces count towards a burst; other settled outcomes only in its share."""
    metrics = ("deferred", "soft_bounce", "delivered", "dropped", "hard_bounce", "open", "complaint")
    assert [outcome_kind(m) for m in metrics] == ["d", "d", "o", "o", "o", "", ""]


@pytest.mark.parametrize(
    ("now", "window_s", "blocked_at", "buckets"),
    [
        pytest.param(600.0, 600.0, None, range(1, 11), id="ten-minutes"),
        pytest.param(659.0, 600.0, None, range(1, 11), id="mid-minute"),
        pytest.param(600.0, 600.0, 300.0, range(5, 11), id="after-a-block"),
        pytest.param(600.0, 600.0, 301.0, range(6, 11), id="block-mid-minute"),
        pytest.param(600.0, 600.0, 10.0, range(1, 11), id="block-before-the-window"),
    ],
)
def test_deferral_buckets_read_the_window_after_the_last_block(
    now: float, window_s: float, blocked_at: float | None, buckets: range
) -> None:
    """A burst check reads the minutes of its window, none that began before the group's last block."""
    assert deferral_buckets(now, window_s, blocked_at) == buckets
