"""Backoff schedules (orchestrator/core/retry.py): doubling from the base, capped, with at most 10 % jitter."""

from __future__ import annotations

import random

import pytest

from orchestrator.core.retry import backoff_s, backoff_with_jitter_s


@pytest.mark.parametrize(
    ("base", "cap", "schedule"),
    [
        pytest.param(30.0, 3600.0, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600], id="defaults"),
        pytest.param(1.0, 10.0, [1, 2, 4, 8, 10, 10, 10, 10, 10, 10], id="small-cap"),
        pytest.param(30.0, 30.0, [30] * 10, id="cap-equals-base"),
        pytest.param(30.0, 10.0, [10] * 10, id="cap-below-base-wins"),
        pytest.param(0.5, 1e9, [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256], id="fractional-base"),
    ],
)
def test_backoff_schedule_doubles_up_to_the_cap(base: float, cap: float, schedule: list[float]) -> None:
    """Tries 1..10 wait base x 2^(n-1), never more than the cap."""
    delays = [backoff_s(attempt, base, cap) for attempt in range(1, 11)]
    assert delays == schedule
    assert all(isinstance(d, float) for d in delays)


@pytest.mark.parametrize("attempt", [pytest.param(0, id="zero"), pytest.param(-3, id="negative")])
def test_backoff_before_the_first_try_is_the_base(attempt: int) -> None:
    """An attempt number below 1 waits the base delay, never less."""
    assert backoff_s(attempt, 30.0, 3600.0) == 30.0


def test_backoff_with_jitter_is_reproducible_from_the_seed() -> None:
    """The same seed gives the same jittered schedule; another seed gives another one."""

    def schedule(seed: int) -> list[float]:
        rnd = random.Random(seed)
        return [backoff_with_jitter_s(a, 30.0, 3600.0, rnd) for a in range(1, 11)]

    assert schedule(42) == schedule(42)
    assert schedule(42) != schedule(43)
    # Seed 42: each delay is the plain schedule [30, 60, 120, ..., 3600] plus its own draw of 0..10 %.
    assert schedule(42) == pytest.approx(
        [31.92, 60.15, 123.3, 245.36, 515.35, 1024.96, 2091.3, 3631.3, 3751.89, 3610.73], abs=0.005
    )


@pytest.mark.parametrize("attempt", range(1, 10))
def test_backoff_jitter_stays_within_ten_percent(attempt: int) -> None:
    """Jitter adds 0..10 % to the plain delay, and over many draws it spreads across that whole range."""
    rnd = random.Random(attempt)
    plain = backoff_s(attempt, 30.0, 3600.0)
    draws = [backoff_with_jitter_s(attempt, 30.0, 3600.0, rnd) for _ in range(2000)]
    assert all(plain <= d <= 1.1 * plain for d in draws)
    assert min(draws) < plain * 1.005
    assert max(draws) > plain * 1.095
