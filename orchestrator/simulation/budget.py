"""The account's API budget for a run on a virtual clock, where no call can wait for its slot.

Production's budget (store/account_budget.py) makes every call sleep until its slot comes. On a
virtual clock the time only moves between instants, so a call cannot wait: here each timeline (SendEmail,
and every other call: status lookups, quota reads) goes only while its share has a slot left in the
rolling second, else it is refused at once with the seconds until one frees, as production refuses
a call that would wait too long (a refused send is postponed, no try counted). Without it a sweep's
hundred status lookups would all reach the emulator at one instant and most be throttled, and the
grants' burst (the pacer may grant a second's sends at once, then a second's more) would put twice
the send share into one second, which never happens live.
"""

from __future__ import annotations

from collections import deque

from orchestrator.core.account_rate import AccountRate, CallKind
from orchestrator.core.clock import Clock


class VirtualCallBudget:
    """At most `send_per_s` SendEmail calls and `other_per_s` others in any rolling `1 + guard_s` seconds,
    per account."""

    def __init__(self, clock: Clock, rate: AccountRate | None = None) -> None:
        self.clock = clock
        self.rate = rate or AccountRate()
        self._calls: dict[str, deque[float]] = {}
        #: Calls refused because the reserved share was spent at that instant.
        self.refused = 0

    async def acquire(self, account: str, kind: CallKind) -> float | None:
        now, window = self.clock.now(), 1.0 + self.rate.guard_s
        calls = self._calls.setdefault(f"{kind.value}:{account}", deque())
        while calls and calls[0] <= now - window:
            calls.popleft()
        if len(calls) >= max(1, int(self.rate.per_s(kind))):
            self.refused += 1
            return calls[0] + window - now
        calls.append(now)
        return None
