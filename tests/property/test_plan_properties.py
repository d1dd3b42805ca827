"""Invariants of the warm-up plan and of day bookkeeping, checked over generated inputs."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import assume, given
from hypothesis import strategies as st

from orchestrator.core.plan import (
    Caps,
    Mode,
    Plan,
    PlanRow,
    allocate_pool,
    fair_shares,
    identity_caps,
    pool_ceiling,
)
from orchestrator.core.progress import IdentityProgress, ProgressRules, close_day, effective_day

DEFAULT = Plan()

#: The seed's range per warm-up day (spec/warmup.md section 2): (days, daily lo-hi, hourly lo-hi).
SEED_RANGES = [
    (range(1, 2), (1000, 1000), (200, 200)),
    (range(2, 3), (1500, 1500), (200, 200)),
    (range(3, 4), (2000, 2000), (400, 400)),
    (range(4, 5), (3000, 3000), (400, 400)),
    (range(5, 6), (4500, 4500), (500, 500)),
    (range(6, 11), (6000, 8000), (500, 1000)),
    (range(11, 16), (8000, 10000), (800, 2000)),
    (range(16, 21), (10000, 15000), (1000, 3000)),
    (range(21, 31), (15000, 25000), (3000, 5000)),
]

days = st.integers(min_value=1, max_value=400)
modes = st.sampled_from(list(Mode))
scales = st.floats(min_value=0.001, max_value=1.0)
multipliers = st.floats(min_value=0.1, max_value=20.0)
quotas = st.none() | st.integers(min_value=1, max_value=10**7)
targets = st.none() | st.integers(min_value=1, max_value=10**7)
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2040, 1, 1))


def _leq(a: Caps, b: Caps) -> bool:
    return a.daily <= b.daily and a.hourly <= b.hourly


@given(days)
def test_default_caps_never_decrease(day: int) -> None:
    """No day of the default plan allows less than the day before, per day or per hour."""
    assert _leq(DEFAULT.caps(day), DEFAULT.caps(day + 1))


@given(st.integers(min_value=1, max_value=30))
def test_default_caps_lie_inside_the_seed_range(day: int) -> None:
    """Each of the 30 table days lies inside the seed's range for that day."""
    (daily_lo, daily_hi), (hourly_lo, hourly_hi) = next((d, h) for r, d, h in SEED_RANGES if day in r)
    caps = DEFAULT.caps(day)
    assert daily_lo <= caps.daily <= daily_hi
    assert hourly_lo <= caps.hourly <= hourly_hi


@st.composite
def tables(draw: st.DrawFn) -> list[PlanRow]:
    """Contiguous custom tables starting at day 1, values in any order."""
    rows, first = [], 1
    for _ in range(draw(st.integers(1, 6))):
        last = first + draw(st.integers(0, 9))
        daily = sorted(draw(st.lists(st.integers(1, 10**6), min_size=2, max_size=2)))
        hourly = sorted(draw(st.lists(st.integers(1, 10**5), min_size=2, max_size=2)))
        if draw(st.booleans()):
            daily.reverse()  # a range running down is allowed; the plan holds the day before
        rows.append(PlanRow(first, last, daily[0], daily[1], hourly[0], hourly[1]))
        first = last + 1
    return rows


@given(tables(), days, scales, targets)
def test_any_plan_never_decreases_and_hourly_stays_under_daily(
    rows: list[PlanRow], day: int, scale: float, target: int | None
) -> None:
    """Any table, scale and target: caps never drop from a day to the next, and hourly <= daily."""
    plan = Plan(rows, scale=scale, target_daily=target)
    today, tomorrow = plan.caps(day), plan.caps(day + 1)
    assert _leq(today, tomorrow)
    assert 1 <= today.hourly <= today.daily


@given(st.lists(days, min_size=1, max_size=8), multipliers, scales)
def test_pool_ceiling_never_exceeds_multiplier_times_plan(
    warmup_days: list[int], multiplier: float, scale: float
) -> None:
    """The pool ceiling is at most multiplier x plan(most advanced day), per day and per hour."""
    plan = Plan(scale=scale)
    base = plan.caps(max(warmup_days))
    ceiling = pool_ceiling(plan, warmup_days, multiplier)
    exact = Fraction(repr(multiplier))  # the multiplier as written in the campaign file
    assert ceiling.daily <= exact * base.daily
    assert ceiling.hourly <= exact * base.hourly


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=20), st.data())
def test_binding_ceiling_gives_everyone_a_share_summing_to_it(demands: list[int], data: st.DataObject) -> None:
    """A binding ceiling of at least one unit each gives every identity a share; the shares sum to it."""
    ceiling = data.draw(st.integers(min_value=len(demands), max_value=max(len(demands), sum(demands) - 1)))
    rotate = data.draw(st.integers(0, 50))
    assume(ceiling < sum(demands))  # all demands of one unit: nothing can bind
    shares = fair_shares(ceiling, demands, rotate)
    assert sum(shares) == ceiling
    assert all(1 <= share <= demand for share, demand in zip(shares, demands, strict=True))


@given(st.lists(st.integers(0, 10**6), max_size=20), st.integers(0, 10**7), st.integers(0, 50))
def test_fair_shares_never_exceed_demand_or_ceiling(demands: list[int], ceiling: int, rotate: int) -> None:
    """No identity gets more than it asks, and together never more than the ceiling."""
    shares = fair_shares(ceiling, demands, rotate)
    assert all(0 <= s <= d for s, d in zip(shares, demands, strict=True))
    assert sum(shares) == min(ceiling, sum(demands))


@given(days, modes, scales, quotas, targets)
def test_scale_quota_and_target_only_lower_caps(
    day: int, mode: Mode, scale: float, quota: int | None, target: int | None
) -> None:
    """scale, daily_quota and target_daily never raise an identity's caps above the plain plan's."""
    plain = identity_caps(Plan(), mode, day)
    assert _leq(identity_caps(Plan(scale=scale, target_daily=target), mode, day, quota), plain)
    assert _leq(identity_caps(Plan(), mode, day, quota), plain)
    assert _leq(identity_caps(Plan(scale=scale), mode, day), plain)


@given(st.lists(st.tuples(days, quotas), min_size=1, max_size=10), modes, multipliers, st.integers(0, 10))
def test_allocation_stays_under_own_caps_and_ceiling(
    identities: list[tuple[int, int | None]], mode: Mode, multiplier: float, rotate: int
) -> None:
    """Each identity's allocation is within its own caps; the pool is their sum and within the ceiling."""
    warmup_days = [d for d, _ in identities]
    quotas_ = [q for _, q in identities]
    alloc = allocate_pool(DEFAULT, mode, warmup_days, quotas_, multiplier, rotate)
    for caps, (day, quota) in zip(alloc.identities, identities, strict=True):
        assert _leq(caps, identity_caps(DEFAULT, mode, day, quota))
        assert caps.hourly <= caps.daily
    assert alloc.pool == Caps(sum(c.daily for c in alloc.identities), sum(c.hourly for c in alloc.identities))
    assert _leq(alloc.pool, alloc.ceiling)


progresses = st.builds(IdentityProgress, days, st.none() | dates, st.integers(0, 100))
rules = st.builds(
    ProgressRules,
    st.floats(min_value=0.01, max_value=1.0),
    st.integers(0, 10),
    st.integers(1, 60),
    st.booleans(),
)


@given(progresses, dates, rules)
def test_effective_day_between_one_and_the_stored_day(
    progress: IdentityProgress, today: dt.date, r: ProgressRules
) -> None:
    """Idle decay never goes below day 1 nor above the stored warm-up day."""
    assert 1 <= effective_day(progress, today, r) <= progress.warmup_day


@given(
    progresses,
    dates,
    st.integers(0, 10**6),
    st.integers(1, 10**6),
    rules,
    st.booleans(),
)
def test_close_day_moves_at_most_one_day_forward(
    progress: IdentityProgress, day: dt.date, sent: int, cap: int, r: ProgressRules, hold: bool
) -> None:
    """Closing a day never moves an identity more than one warm-up day forward, nor below day 1."""
    after = close_day(progress, day, sent, cap, r, hold)
    assert 1 <= after.warmup_day <= progress.warmup_day + 1
    if hold:
        assert after.warmup_day <= progress.warmup_day
