"""The close of an identity's local day: its warm-up day advanced or held, its provider groups rolled with it."""

from __future__ import annotations

from datetime import date

from redis.asyncio import Redis

from orchestrator.core.campaign import Campaign
from orchestrator.core.guard import IdentityGuard, event_data
from orchestrator.core.plan import Caps
from orchestrator.core.progress import effective_day, quota_hold
from orchestrator.store import events, group_state, identities
from orchestrator.store.identities import IdentityState


async def roll_day(
    redis: Redis, state: IdentityState, spec: Campaign, today: date, now: float, guard: IdentityGuard | None = None
) -> IdentityState:
    """Close the identity's open day once its local date has passed (day advance, or hold: too little
    sent, or a guardrail's hold line crossed)."""
    if not state.open_date or state.open_date >= today.isoformat():
        return state
    rules = spec.plan.progress_rules(spec.mode)
    before = state.progress
    held = guard.holds if guard is not None else []
    sent, after = await identities.close_open_day(redis, state, rules, hold=bool(held))
    await identities.save_progress(redis, state.id, after, today.isoformat(), 0)
    day = effective_day(before, date.fromisoformat(state.open_date), rules)
    if group_state.active(spec, day, state.open_cap):
        await group_state.roll(
            redis,
            state.id,
            spec.build_plan(),
            Caps(state.open_cap, 1 << 30),
            state.open_date,
            day,
            rules.advance_min_fraction,
            f"the identity's day was held: {held[0].reason(state.id)}" if held else None,
        )
    else:
        await group_state.follow(redis, state.id, after.warmup_day)
    if sent > 0:
        etype = (
            "day_advanced"
            if after.warmup_day > effective_day(before, date.fromisoformat(state.open_date), rules)
            else "day_held"
        )
        await events.emit(
            redis,
            now,
            etype,
            "",
            state.id,
            date=state.open_date,
            sent=sent,
            daily_cap=state.open_cap,
            warmup_day=after.warmup_day,
            **(event_data(held[0]) if held and etype == "day_held" else {}),
            **(quota_hold(sent, state.open_cap, state.quota, rules) if not held and etype == "day_held" else {}),
        )
    refreshed = await identities.load(redis, state.id)
    assert refreshed is not None
    return refreshed
