"""The domain budgets a campaign starts with, for `orchestrate plan`: per identity and provider group.

A fresh start is assumed (no group has a stored state of its own): until an identity reaches
`shaping.per_domain_from_day` or `per_domain_from_daily`, recipients go in random order and one
group may use at most `max_domain_share` of the identity's hour while others wait; from that day on
each group has its own warm-up day, starting at the identity's, so its first caps are the
identity's caps of that day (core/domain_shaping.py), and it ramps with its own history from there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from orchestrator.core.campaign import Campaign
from orchestrator.core.domain_shaping import shaping_active
from orchestrator.core.plan import Caps, Mode, times
from orchestrator.core.preview import PreviewDay


@dataclass(frozen=True, slots=True)
class ShapingStart:
    """The preview day on which per-domain shaping starts for one identity."""

    day: int  # preview day (1 = the campaign's first)
    date: dt.date
    warmup_day: int
    caps: Caps  # the identity's caps that day: each group's first own caps


@dataclass(frozen=True, slots=True)
class IdentityBudget:
    """One identity's domain budgets: the share before shaping, and where shaping starts (None: not in view)."""

    share_hourly_cap: int  # a group's hourly cap on day 1 while other groups wait (0: no share)
    daily_cap: int  # the identity's daily cap on day 1: no group has a daily cap of its own yet
    shaping: ShapingStart | None


def shaping_start(campaign: Campaign, preview: list[PreviewDay], identity: str) -> ShapingStart | None:
    """The first preview day per-domain shaping applies to `identity` (None: not a warm-up, or later)."""
    if campaign.mode is not Mode.WARMUP:
        return None
    sh = campaign.shaping
    for d in preview:
        i = d.identities[identity]
        if shaping_active(i.warmup_day, i.day_cap or i.caps.daily, sh.per_domain_from_day, sh.per_domain_from_daily):
            return ShapingStart(d.day, d.date, i.warmup_day, i.caps)
    return None


def budgets(campaign: Campaign, preview: list[PreviewDay]) -> dict[str, IdentityBudget]:
    """Each identity's starting domain budgets over the previewed days."""
    share = campaign.shaping.max_domain_share if campaign.mode is Mode.WARMUP else 0.0
    out = {}
    for ident in campaign.identities:
        first = preview[0].identities[ident.id].caps
        share_cap = max(1, times(first.hourly, share)) if share > 0 else 0
        out[ident.id] = IdentityBudget(share_cap, first.daily, shaping_start(campaign, preview, ident.id))
    return out


def budgets_json(campaign: Campaign, preview: list[PreviewDay], groups: dict[str, int]) -> dict[str, Any]:
    """The `domain_budgets` of `orchestrate plan --json`: the rules, the list's groups, each identity's budgets."""
    sh = campaign.shaping

    def identity_json(b: IdentityBudget) -> dict[str, Any]:
        start = b.shaping
        first = None if start is None else {"daily_cap": start.caps.daily, "hourly_cap": start.caps.hourly}
        return {
            "day_one": {"daily_cap": b.daily_cap, "group_hourly_cap": b.share_hourly_cap},
            "shaping_from": None
            if start is None
            else {"day": start.day, "date": start.date.isoformat(), "warmup_day": start.warmup_day},
            "groups": dict.fromkeys(groups, first) if first is not None else {},
        }

    return {
        "applies": campaign.mode is Mode.WARMUP,
        "max_domain_share": sh.max_domain_share,
        "per_domain_from_day": sh.per_domain_from_day,
        "per_domain_from_daily": sh.per_domain_from_daily,
        "recipients_by_group": groups,
        "identities": {name: identity_json(b) for name, b in budgets(campaign, preview).items()},
    }
