"""The simulation's API budget: SendEmail and the other calls each keep to their share of each rolling second."""

from __future__ import annotations

import pytest

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import VirtualClock
from orchestrator.simulation.budget import VirtualCallBudget


async def test_each_timeline_keeps_to_its_share_of_the_rolling_second() -> None:
    """2 other calls and 16 sends in any 1.05 s: the grants' burst (16 at once, then 16 a second) would put
    32 SendEmail calls into one second at the emulator, over Tencent's 20."""
    clock = VirtualClock(1000.0)
    budget = VirtualCallBudget(clock, AccountRate(rate_per_s=18, other_per_s=2, guard_s=0.05))
    assert [await budget.acquire("a", CallKind.OTHER) for _ in range(2)] == [None, None]
    refused = await budget.acquire("a", CallKind.OTHER)
    assert refused == pytest.approx(1.05)  # the first call leaves the window 1 + guard_s later
    assert [await budget.acquire("a", CallKind.SEND) for _ in range(16)] == [None] * 16  # its own share
    assert await budget.acquire("a", CallKind.SEND) == pytest.approx(1.05)
    assert await budget.acquire("b", CallKind.OTHER) is None  # each account has its own share
    assert await budget.acquire("b", CallKind.SEND) is None
    clock.advance(1.0)
    assert await budget.acquire("a", CallKind.OTHER) == pytest.approx(0.05)
    clock.advance(0.05)
    assert await budget.acquire("a", CallKind.OTHER) is None
    assert await budget.acquire("a", CallKind.SEND) is None
    assert budget.refused == 3
