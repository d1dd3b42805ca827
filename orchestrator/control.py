"""Pause, resume and cancel a campaign: idempotent state changes, safe to run concurrently."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from orchestrator.core.budget import budget_now
from orchestrator.core.campaign_state import Transition
from orchestrator.core.clock import Clock
from orchestrator.guarding import judge_identities
from orchestrator.store import campaigns, events, identities

#: How often a pause looks again at the sends still in flight.
PAUSE_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Refused:
    """The campaign's state does not allow the change (a finished campaign cannot be paused, ...)."""

    campaign_id: str
    state: str


@dataclass(frozen=True, slots=True)
class NeedsAck:
    """The campaign paused itself: resuming needs an acknowledgement of the reason (and the figures behind it)."""

    campaign_id: str
    reason: str
    metrics: dict[str, Any]  # identity -> core/guard.py IdentityGuard.as_json()


async def _in_flight(redis: Redis, cid: str) -> tuple[int, int]:
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    return rec.counts["granted"], rec.counts["inflight"]


async def _stop(
    redis: Redis, cid: str, clock: Clock, how: Transition, reason: str, by: str, wait_s: float
) -> dict[str, Any] | Refused:
    """Pause or cancel `cid` (`how`), then wait up to `wait_s` for its sends in flight to finish: the
    report of `pause` and `cancel` (`changed`: False when it already was in that state)."""
    outcome, was = await campaigns.transition(redis, cid, how, clock.now(), reason=reason, by=by)
    if outcome == "refused":
        return Refused(cid, was)
    granted, sending = await _in_flight(redis, cid)
    at_stop = granted + sending  # before the wait
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while (granted or sending) and loop.time() < deadline:
        await asyncio.sleep(PAUSE_POLL_S)
        granted, sending = await _in_flight(redis, cid)
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    return {
        "campaign_id": cid,
        "state": rec.state.value,
        "changed": outcome == "ok",
        "in_flight_at_stop": at_stop,
        "still_in_flight": rec.counts["granted"] + rec.counts["inflight"],
        "in_doubt": rec.counts["in_doubt"],  # may have reached Tencent: the sweeper asks it
        "accepted": rec.counts["accepted"],
        "pending": rec.counts["queued"],
    }


async def pause_campaign(
    redis: Redis, cid: str, clock: Clock, reason: str, by: str, wait_s: float
) -> dict[str, Any] | Refused:
    """Stop new sends of `cid`, then wait up to `wait_s` for the sends in flight; what `pause` reports."""
    return await _stop(redis, cid, clock, Transition.PAUSE, reason, by, wait_s)


async def cancel_campaign(
    redis: Redis, cid: str, clock: Clock, reason: str, by: str, wait_s: float = 0.0
) -> dict[str, Any] | Refused:
    """Stop `cid` for good (its ledger stays), then wait up to `wait_s` for the sends in flight, as
    `pause` does; what `cancel` reports."""
    return await _stop(redis, cid, clock, Transition.CANCEL, reason, by, wait_s)


async def resume_campaign(
    redis: Redis, cid: str, clock: Clock, ack: str, by: str
) -> dict[str, Any] | Refused | NeedsAck:
    """Continue `cid`, recording the acknowledged pause; each identity's warm-up day and caps for today.

    An automatic pause (a guardrail, a campaign-fatal answer) needs `ack`; once acknowledged, the
    guardrails judge only sends made after it, so the old sample does not pause the campaign again.
    """
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    previous_reason = rec.reason
    # An automatic pause (made before or after `rec` was read) is lifted only with an acknowledgement,
    # stored in the same step as the change, so no tick judges the old sample in between.
    outcome, was = await campaigns.transition(
        redis, cid, Transition.RESUME, clock.now(), reason="", by=by, acknowledged=bool(ack.strip())
    )
    if outcome == "refused":
        return Refused(cid, was)
    if outcome == "needs_ack":  # paused automatically, perhaps after `rec` was read
        rec = await campaigns.get(redis, cid)
        assert rec is not None
        guards = await judge_identities(redis, cid, rec.spec, rec.identities, clock.now())
        return NeedsAck(cid, rec.reason, {i: g.as_json() for i, g in guards.items()})
    if outcome == "ok" and ack.strip():  # an operator's pause lifted without --ack: no acknowledgement to log
        await events.emit(
            redis, clock.now(), "pause_acknowledged", cid, reason=previous_reason, note=ack or None, by=by
        )
    now = clock.now()
    states = await identities.load_rolled(redis, rec.spec, now)
    lt, days, alloc = budget_now(rec.spec, states, now)
    return {
        "campaign_id": cid,
        "changed": outcome == "ok",
        "previous_reason": previous_reason,
        "local_date": lt.date.isoformat(),
        "identities": [
            {"id": i, "warmup_day": d, "daily_cap": c.daily, "hourly_cap": c.hourly}
            for i, d, c in zip(rec.identities, days, alloc.identities, strict=True)
        ],
        "pool": {"daily_cap": alloc.pool.daily, "hourly_cap": alloc.pool.hourly},
    }
