"""Tencent's per-account API rate as call slots: one timeline for sends, one reserved for everything else.

Tencent counts every SES API call of an account against one budget (20 requests/s). The
orchestrator spends at most `rate_per_s` of it (headroom below Tencent's figure), split in two
timelines whose slots are evenly spaced: SendEmail gets `rate_per_s - other_per_s`, and status
lookups, quota reads and the preflight reads get the `other_per_s` reserved for them, so a busy
send queue can never starve the reconciliation of in-doubt sends.

Slots are spaced by `(1 + guard_s) / rate`, so any window of `1 + guard_s` seconds holds at most
`rate` calls of a timeline at the moment they leave: up to `guard_s` of difference in how long two
calls take from leaving to arriving still leaves every rolling second at Tencent within the rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GAP_MARGIN_S = 1e-5


class CallKind(StrEnum):
    """Which timeline of the account's budget an API call draws from."""

    SEND = "send"  # SendEmail
    OTHER = "other"  # GetSendEmailStatus, ListEmailIdentities, ListBlackEmailAddress, GetEmailIdentity, ...


@dataclass(frozen=True, slots=True)
class AccountRate:
    """How many API calls a second the orchestrator allows itself on one Tencent account."""

    rate_per_s: float = 18.0  # of Tencent's 20: the headroom is a margin for the network to Tencent
    other_per_s: float = 2.0  # reserved out of rate_per_s for everything but SendEmail
    guard_s: float = 0.05  # the spread in leave-to-arrive time the spacing absorbs
    max_wait_s: float = 30.0  # a call never waits longer than this for its slot

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0 or not 0 < self.other_per_s < self.rate_per_s:
            msg = "the account rate must be positive and the reserved share between 0 and the rate"
            raise ValueError(msg)
        if not 0 <= self.guard_s < 1 or not self.max_wait_s >= 0:
            msg = "the guard must be in [0, 1) s and the longest wait not negative"
            raise ValueError(msg)

    @property
    def send_per_s(self) -> float:
        return self.rate_per_s - self.other_per_s

    @property
    def send_slots_per_s(self) -> float:
        """How many SendEmail slots a second the spacing really gives (the pace grants should keep)."""
        return 1.0 / self.gap_s(CallKind.SEND)

    def per_s(self, kind: CallKind) -> float:
        return self.send_per_s if kind is CallKind.SEND else self.other_per_s

    def gap_s(self, kind: CallKind) -> float:
        """The time between two slots of `kind`'s timeline."""
        # 10 us more per slot: times near 1.8e9 s carry ~1e-7 s of rounding per addition, and a
        # window must never hold one slot more because of it.
        return (1.0 + self.guard_s) / self.per_s(kind) + GAP_MARGIN_S
