"""The simulation's reading of the event stream (orchestrator/simulation/timeline.py) on a real Redis."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from orchestrator.simulation.timeline import read_timeline
from orchestrator.store import events


async def test_timeline_names_who_paused_and_resumed(redis: Redis) -> None:
    """A guardrail's pause is `automatic`; an operator's pause and resume say `operator` with the name."""
    await events.emit(redis, 0.0, "campaign_paused", "c-1", reason="guardrail: complaint", by="automatic")
    await events.emit(redis, 60.0, "campaign_resumed", "c-1", by="alice")
    await events.emit(redis, 120.0, "campaign_paused", "c-1", reason="lunch", by="alice")
    await events.emit(redis, 130.0, "campaign_paused", "c-2", reason="other campaign", by="bob")
    got = await read_timeline(redis, "c-1", ["id-a"], ZoneInfo("UTC"))
    assert got.pauses == [
        {"t": "1970-01-01T00:00:00+00:00", "by": "automatic", "reason": "guardrail: complaint"},
        {"t": "1970-01-01T00:02:00+00:00", "by": "operator", "who": "alice", "reason": "lunch"},
    ]
    assert got.resumes == [{"t": "1970-01-01T00:01:00+00:00", "by": "operator", "who": "alice"}]


async def test_timeline_keeps_its_identities_day_steps_and_backoffs(redis: Redis) -> None:
    """Day steps (written without a campaign) count for the campaign's own identities only; backoffs become marks."""
    await events.emit(redis, 10.0, "day_held", "", "id-a", date="2026-12-01", reason="hard_bounce: 7 %")
    await events.emit(redis, 10.0, "day_advanced", "", "id-z", date="2026-12-01")
    await events.emit(redis, 20.0, "domain_backoff", "c-1", "id-a", group="naver", code="X", until=repr(620.0))
    got = await read_timeline(redis, "c-1", ["id-a"], ZoneInfo("UTC"))
    assert got.steps == {("2026-12-01", "id-a"): ("held", "hard_bounce: 7 %")}
    assert [(m.kind, m.identity, m.t, m.end) for m in got.marks] == [
        ("held", "id-a", 10.0, None),
        ("backoff", "id-a", 20.0, 620.0),
    ]
