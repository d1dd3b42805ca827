"""The guardrails acting: judge each identity of a running campaign, pause it, hold a step, warn.

The decision is pure (core/guard.py); this module reads the figures (store/feedback.py) over the
campaign's rolling window, starting after its last acknowledged automatic pause (a day roll's hold:
the window ending with the day it closes, every send of it), and acts: the
campaign's automatic pause (the one transition table), the `guardrail_warning` event once a day.
The pacer calls it at most every CHECK_EVERY_S of its clock, and always before a day roll, whose
hold it decides (orchestrator/pacing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import structlog
from redis.asyncio import Redis

from orchestrator.core.calendar import start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.campaign_state import Transition
from orchestrator.core.evidence import Line
from orchestrator.core.guard import IdentityGuard, decide, event_data
from orchestrator.core.guardrails import PAUSING_SEND_STATUS
from orchestrator.core.quality import ACCEPTED, HOUR_S, hour_of, quality, quality_hours
from orchestrator.store import campaigns, events, keys
from orchestrator.store.feedback import parse_buckets, queue_buckets
from orchestrator.store.stored_values import moment

log = structlog.get_logger("orchestrator.guard")

#: How often (the pacer's clock) a running campaign's identities are judged again.
CHECK_EVERY_S = 60.0
WARNED_TTL_S = 2 * 86_400


async def record_ack(redis: Redis, cid: str, now: float) -> None:
    """From now on the guardrails judge only sends made after the hour of this acknowledgement (a
    `resume --ack` stores it with the state change itself, in lua/transition.lua)."""
    await redis.hset(keys.GUARD_ACK, cid, repr(now))


def first_hour(ack_at: float | None) -> int | None:
    """The first cohort judged after an acknowledgement: the next whole hour (sends in the ack's hour
    may predate it, and the old sample must not trip the same guardrail again)."""
    return None if ack_at is None else hour_of(ack_at) + 1


def closed_hours_end(now: float) -> float:
    """The last instant of the last whole hour before `now`: a window judged there holds only whole hours.

    At a day roll just after midnight the current hour is nearly empty; the rolling window ending in
    it would leave out the first hour of the day being closed.
    """
    return hour_of(now) * HOUR_S - 1e-3


def judged_metrics(lines: Mapping[str, Line]) -> tuple[str, ...]:
    """The counts a verdict reads (core/guard.decide): the denominator, deliveries (whether events come
    in at all) and each metric with a line; an identity's other metrics are not read for it."""
    return (ACCEPTED, "delivered", *sorted(m for m in lines if m not in (ACCEPTED, "delivered")))


async def judge_identities(
    redis: Redis,
    cid: str,
    spec: Campaign,
    identity_ids: list[str],
    now: float,
    after_ack: bool = True,
    min_window_s: int = 0,
) -> dict[str, IdentityGuard]:
    """Each identity's guardrail verdicts over the campaign's window ending at `now`, at least
    `min_window_s` long (with `after_ack`, only the hours after its last acknowledged pause)."""
    g = spec.guardrails
    window_s = max(g.window_hours * HOUR_S, min_window_s)
    lines = {line.metric: line for line in g.lines(spec.content)}
    hours = list(quality_hours(now, window_s))
    names = judged_metrics(lines)
    async with redis.pipeline(transaction=False) as pipe:  # the acknowledgement and the hours together
        pipe.hget(keys.GUARD_ACK, cid)
        queue_buckets(pipe, "i", identity_ids, hours, names)
        ack, *replies = await pipe.execute()
    counts = parse_buckets(identity_ids, hours, replies, names)
    start = first_hour(None if ack is None or not after_ack else moment(ack, "guard acknowledgement"))
    if start is not None:  # only the hours after the last acknowledged pause are judged
        counts = {i: {h: c for h, c in by_hour.items() if h >= start} for i, by_hour in counts.items()}
    return {i: decide(i, quality(counts[i], now, window_s, lines, g.confidence_z)) for i in identity_ids}


async def pause_on_send_status(redis: Redis, cid: str, send_status: int | None, now: float, where: str) -> bool:
    """A GetSendEmailStatus row Tencent marked as limiting the sender (core/guardrails.py): the mail's
    campaign pauses itself, whichever lookup (`where`) read it. True when the status is such a one."""
    reason = PAUSING_SEND_STATUS.get(send_status) if send_status is not None else None
    if reason is None:
        return False
    outcome, _ = await campaigns.transition(redis, cid, Transition.AUTO_PAUSE, now, reason=reason)
    log.warning("send_status_pause", campaign=cid, reason=reason, outcome=outcome, found_by=where)
    return True


class Guard:
    """The pacer's guard: judges a campaign's identities now and then and acts on the verdicts."""

    def __init__(self, redis: Redis, every_s: float = CHECK_EVERY_S) -> None:
        self.redis = redis
        self.every_s = every_s
        self._checked: dict[str, tuple[float, dict[str, IdentityGuard]]] = {}

    async def check(
        self, rec: campaigns.CampaignRecord, now: float, today: str, force: bool = False
    ) -> dict[str, IdentityGuard] | None:
        """The identities' verdicts (cached for `every_s`); None when this call paused the campaign."""
        last = self._checked.get(rec.cid)
        if last is not None and not force and now - last[0] < self.every_s:
            return last[1]
        guards = await judge_identities(self.redis, rec.cid, rec.spec, rec.identities, now)
        self._checked[rec.cid] = (now, guards)
        for guard in guards.values():
            verdict = guard.pause
            if verdict is not None:
                reason = f"guardrail: {verdict.reason(guard.identity)}"
                outcome, _ = await campaigns.transition(self.redis, rec.cid, Transition.AUTO_PAUSE, now, reason=reason)
                log.warning(
                    "guardrail_pause", campaign=rec.cid, identity=guard.identity, reason=reason, outcome=outcome
                )
                self._checked.pop(rec.cid, None)
                return None
        await self._warn(rec.cid, guards, now, today)
        return guards

    async def for_day_roll(
        self, rec: campaigns.CampaignRecord, now: float, open_dates: Mapping[str, str]
    ) -> dict[str, IdentityGuard]:
        """The verdicts a day roll holds on, per identity: the window of whole hours ending with the day it
        closes (`open_dates`: identity -> that local date), not with `now`, and at least that day's hours
        (23, 24 or 25; a 6-hour window ending at midnight held none of a day sent in its morning).
        A day closed late (the campaign was paused over midnight, or finished and another campaign on the
        identity rolls it) is judged on its own sends, and on all of them: an acknowledged pause lifts the
        pause line, not the hold.
        """
        by_end: dict[tuple[float, int], list[str]] = {}
        for identity, day in open_dates.items():
            first = date.fromisoformat(day)
            start, end = start_of(first, rec.spec.zone), start_of(first + timedelta(days=1), rec.spec.zone)
            at = min(closed_hours_end(now), closed_hours_end(end))
            hours = max(1, -(-int(at - start) // HOUR_S))  # back to the day's first hour: 23, 24 or 25 of them
            by_end.setdefault((at, hours * HOUR_S), []).append(identity)
        guards: dict[str, IdentityGuard] = {}
        for (at, day_s), ids in by_end.items():
            guards.update(await judge_identities(self.redis, rec.cid, rec.spec, ids, at, False, day_s))
        return guards

    async def _warn(self, cid: str, guards: Mapping[str, IdentityGuard], now: float, today: str) -> None:
        """A `guardrail_warning` event, once a local day per campaign, identity and metric."""
        for guard in guards.values():
            for v in guard.warnings:
                key = keys.guard_warned(cid, guard.identity, v.line.metric, today)
                if await self.redis.set(key, "1", nx=True, ex=WARNED_TTL_S):
                    await events.emit(self.redis, now, "guardrail_warning", cid, guard.identity, **event_data(v))
                    log.warning("guardrail_warning", campaign=cid, identity=guard.identity, reason=v.reason())
