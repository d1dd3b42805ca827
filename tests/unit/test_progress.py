"""Warm-up day bookkeeping (orchestrator/core/progress.py): when a day counts, how idle days decay."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.core.plan import Mode
from orchestrator.core.plan_spec import PlanSpec
from orchestrator.core.progress import IdentityProgress, ProgressRules, close_day, effective_day, idle_days

LAST_SENT = dt.date(2026, 3, 1)


def _after_idle(idle: int) -> dt.date:
    """The date on which an identity that last sent on LAST_SENT has been idle `idle` whole days."""
    return LAST_SENT + dt.timedelta(days=idle + 1)


def test_idle_decay_schedule_from_day_30() -> None:
    """Idle 0..3 days cost nothing, each further day steps back one, 30 idle days restart at day 1."""
    progress = IdentityProgress(warmup_day=30, last_sending_date=LAST_SENT)
    schedule = [effective_day(progress, _after_idle(idle)) for idle in range(36)]
    assert schedule == [
        30, 30, 30, 30,  # idle 0-3: the grace
        29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13,  # idle 4-20
        12, 11, 10, 9, 8, 7, 6, 5, 4,  # idle 21-29
        1, 1, 1, 1, 1, 1,  # idle 30-35: start again
    ]  # fmt: skip


def test_idle_decay_never_goes_below_day_one() -> None:
    """A young identity idle for three weeks is back at day 1, not below."""
    progress = IdentityProgress(warmup_day=5, last_sending_date=LAST_SENT)
    assert [effective_day(progress, _after_idle(idle)) for idle in (3, 4, 7, 8, 20)] == [5, 4, 1, 1, 1]


def test_idle_decay_follows_custom_rules() -> None:
    """A campaign's own grace and reset (plan.idle_grace_days, plan.idle_reset_days) drive the decay."""
    rules = ProgressRules(idle_grace_days=0, idle_reset_days=5)
    progress = IdentityProgress(warmup_day=10, last_sending_date=LAST_SENT)
    assert [effective_day(progress, _after_idle(idle), rules) for idle in range(7)] == [10, 9, 8, 7, 6, 1, 1]


@pytest.mark.parametrize(
    ("last", "today", "expected"),
    [
        pytest.param(None, dt.date(2026, 3, 9), 0, id="never-sent"),
        pytest.param(LAST_SENT, LAST_SENT, 0, id="same-day"),
        pytest.param(LAST_SENT, dt.date(2026, 3, 2), 0, id="next-day"),
        pytest.param(LAST_SENT, dt.date(2026, 3, 5), 3, id="three-between"),
        pytest.param(LAST_SENT, dt.date(2026, 2, 20), 0, id="clock-behind"),
    ],
)
def test_idle_days_counts_days_between(last: dt.date | None, today: dt.date, expected: int) -> None:
    """Idle days are the whole days strictly between the last sending day and today."""
    assert idle_days(IdentityProgress(7, last), today) == expected


def test_effective_day_is_pure() -> None:
    """Asking twice on the same day gives the same answer: nothing decays until a day is closed."""
    progress = IdentityProgress(warmup_day=12, last_sending_date=LAST_SENT)
    today = _after_idle(6)
    assert effective_day(progress, today) == effective_day(progress, today) == 9
    assert progress.warmup_day == 12


TODAY = dt.date(2026, 3, 2)


@pytest.mark.parametrize(
    ("sent", "cap", "rules", "hold", "expected"),
    [
        pytest.param(1000, 1000, ProgressRules(), False, IdentityProgress(5, TODAY, 0), id="full-day-advances"),
        pytest.param(500, 1000, ProgressRules(), False, IdentityProgress(5, TODAY, 0), id="exactly-half-advances"),
        pytest.param(499, 1000, ProgressRules(), False, IdentityProgress(4, TODAY, 1), id="below-half-holds"),
        pytest.param(0, 1000, ProgressRules(), False, IdentityProgress(4, LAST_SENT, 0), id="idle-day-unchanged"),
        pytest.param(1000, 1000, ProgressRules(), True, IdentityProgress(4, TODAY, 1), id="guardrail-holds"),
        pytest.param(
            700,
            1000,
            ProgressRules(advance_min_fraction=0.8),
            False,
            IdentityProgress(4, TODAY, 1),
            id="custom-fraction",
        ),
        pytest.param(
            1,
            1000,
            ProgressRules(every_sending_day_counts=True),
            False,
            IdentityProgress(5, TODAY, 0),
            id="transactional-any-send-counts",
        ),
    ],
)
def test_close_day_advances_only_on_counting_days(
    sent: int, cap: int, rules: ProgressRules, hold: bool, expected: IdentityProgress
) -> None:
    """A day counts when half its cap was sent (any send if transactional) and no guardrail holds."""
    progress = IdentityProgress(warmup_day=4, last_sending_date=LAST_SENT)
    assert close_day(progress, TODAY, sent, cap, rules, hold) == expected


def test_close_day_after_idle_days_advances_from_the_decayed_day() -> None:
    """Back after 8 idle days at day 20: the decay (5 days) applies first, then the day counts."""
    progress = IdentityProgress(warmup_day=20, last_sending_date=LAST_SENT)
    assert close_day(progress, _after_idle(8), 1000, 1000) == IdentityProgress(16, _after_idle(8), 0)


def test_close_day_keeps_the_held_count_when_a_day_counts() -> None:
    """held_days counts the days that did not count; a counting day does not reset it."""
    progress = IdentityProgress(warmup_day=4, last_sending_date=LAST_SENT, held_days=2)
    assert close_day(progress, TODAY, 100, 1000).held_days == 3
    assert close_day(progress, TODAY, 900, 1000).held_days == 2


@pytest.mark.parametrize(
    ("mode", "every_day_counts"),
    [
        pytest.param(Mode.WARMUP, False, id="warmup"),
        pytest.param(Mode.TRANSACTIONAL, True, id="transactional"),
        pytest.param(Mode.SHARED, False, id="shared"),
    ],
)
def test_plan_spec_progress_rules_per_mode(mode: Mode, every_day_counts: bool) -> None:
    """The campaign's plan keys become the progress rules; transactional counts every sending day."""
    rules = PlanSpec(advance_min_fraction=0.7, idle_grace_days=2, idle_reset_days=20).progress_rules(mode)
    assert rules == ProgressRules(0.7, 2, 20, every_day_counts)


def test_a_day_closed_at_the_last_warm_up_day_stays_there() -> None:
    """An identity at MAX_WARMUP_DAY stays there after a full day: its stored state stays readable."""
    from orchestrator.core.progress import MAX_WARMUP_DAY

    today = dt.date(2026, 3, 2)
    yesterday = today - dt.timedelta(days=1)
    assert close_day(IdentityProgress(MAX_WARMUP_DAY, yesterday, 0), today, 100, 100).warmup_day == MAX_WARMUP_DAY
    assert close_day(IdentityProgress(MAX_WARMUP_DAY - 1, yesterday, 0), today, 100, 100).warmup_day == MAX_WARMUP_DAY


def test_the_quota_is_named_only_when_it_kept_the_day_from_counting() -> None:
    """Cap 1,500 and a quota of 500 that the identity sent up to: the quota is why. A quota of 1,000 (above
    the 750 a day needs), or 200 sent of a 500 quota (the list ran out): it is not."""
    from orchestrator.core.progress import quota_hold

    assert quota_hold(500, 1500, 500)["daily_quota"] == 500
    assert quota_hold(200, 1500, 1000) == {}
    assert quota_hold(200, 1500, 500) == {}
    assert quota_hold(500, 1500, None) == {}


def test_a_day_counts_against_the_plan_where_there_is_a_ramp_and_the_quota_elsewhere() -> None:
    """warmup: the plan's cap (1,000 on day 1) whatever Tencent's quota; shared: the caps in force (the quota)."""
    from types import SimpleNamespace

    from orchestrator.core.budget import day_caps
    from orchestrator.core.campaign import Campaign

    base = {
        "name": "t",
        "identities": [{"id": "a", "from": "a@a.example.com"}],
        "template": {"id": 1, "subject": "Hello"},
        "recipients": {"file": "r.csv"},
    }
    state = SimpleNamespace(progress=IdentityProgress(1, None, 0), quota=500)
    warm = Campaign.model_validate(base)
    shared = Campaign.model_validate({**base, "mode": "shared"})
    assert day_caps(warm, {"a": state}, 1_800_000_000.0).identities[0].daily == 1000
    assert day_caps(shared, {"a": state}, 1_800_000_000.0).identities[0].daily == 500
