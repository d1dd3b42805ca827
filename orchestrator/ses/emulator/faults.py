"""Fault injection: which request gets which injected error, by count or by rate."""

from __future__ import annotations

import random
from collections.abc import Iterable

from orchestrator.ses.emulator.world import FaultRule, World


class FaultPlan:
    """Reads the world's fault rules live, so a test may add a rule while the server runs."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self._world = world
        self._rng = rng

    def pick(
        self, action: str, account: str, recipient_domains: Iterable[str] = (), rng: random.Random | None = None
    ) -> FaultRule | None:
        """The first rule that fires for this request (a fired `count` rule is used up by one); a rate rule
        draws from `rng` when given (the request's own), else from the emulator's generator."""
        draw = rng or self._rng
        domains = {d.lower() for d in recipient_domains}
        for rule in self._world.faults:
            if rule.action not in ("*", action):
                continue
            if rule.account is not None and rule.account != account:
                continue
            if rule.recipient_domain is not None and rule.recipient_domain.lower() not in domains:
                continue
            if rule.count is not None and rule.count <= 0:
                continue
            if rule.rate is not None and draw.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
            return rule
        return None
