"""The simulation's API budget: SendEmail goes at once, other calls keep to the reserved share of each second."""

from __future__ import annotations

import pytest

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import VirtualClock
from orchestrator.simulation.budget import VirtualCallBudget


async def test_other_calls_keep_to_the_reserved_share_and_sends_are_never_held() -> None:
    clock = VirtualClock(1000.0)
    budget = VirtualCallBudget(clock, AccountRate(rate_per_s=18, other_per_s=2, guard_s=0.05))
    assert [await budget.acquire("a", CallKind.OTHER) for _ in range(2)] == [None, None]
    refused = await budget.acquire("a", CallKind.OTHER)
    assert refused == pytest.approx(1.05)  # the first call leaves the window 1 + guard_s later
    assert all([await budget.acquire("a", CallKind.SEND) is None for _ in range(30)])  # paced at the grant
    assert await budget.acquire("b", CallKind.OTHER) is None  # each account has its own share
    clock.advance(1.0)
    assert await budget.acquire("a", CallKind.OTHER) == pytest.approx(0.05)
    clock.advance(0.05)
    assert await budget.acquire("a", CallKind.OTHER) is None
    assert budget.refused == 2
