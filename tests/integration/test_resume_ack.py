"""`resume` against an automatic pause made while it runs: the pause stays until acknowledged."""

from __future__ import annotations

import pytest

from orchestrator import control
from orchestrator.control import NeedsAck
from orchestrator.core.campaign_state import Transition
from orchestrator.store import campaigns, keys
from orchestrator.store.campaigns import State
from tests.pipeline_harness import Pipeline, recipients_csv


async def test_an_automatic_pause_made_after_resume_looked_is_not_lifted(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resume` (no --ack) reads the campaign running, a guardrail pauses it, then `resume` changes the
    state: the change is refused as needing an acknowledgement, and the report names the new reason."""
    await pipe.submit(recipients_csv())
    before = await campaigns.get(pipe.redis, pipe.cid)
    assert before is not None
    assert before.state is State.RUNNING
    await campaigns.transition(pipe.redis, pipe.cid, Transition.AUTO_PAUSE, pipe.clock.now(), reason="hard bounces")

    async def stale_read(redis: object, cid: str) -> campaigns.CampaignRecord | None:
        monkeypatch.undo()  # the first read only: what `resume` saw before the pause
        return before

    monkeypatch.setattr(control.campaigns, "get", stale_read)
    report = await control.resume_campaign(pipe.redis, pipe.cid, pipe.clock, ack="", by="lee")
    assert isinstance(report, NeedsAck)
    assert report.reason == "hard bounces"
    rec = await pipe.record()
    assert (rec.state, rec.paused_by) == (State.PAUSED, "automatic")


async def test_an_acknowledged_resume_stores_the_ack_with_the_change_whenever_the_pause_came(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resume --ack` reads the campaign running, a guardrail pauses it, then `resume` changes the state:
    the acknowledgement is stored in the same step (a tick after it judges only later sends), not lost."""
    await pipe.submit(recipients_csv())
    before = await campaigns.get(pipe.redis, pipe.cid)
    await campaigns.transition(pipe.redis, pipe.cid, Transition.AUTO_PAUSE, pipe.clock.now(), reason="hard bounces")

    async def stale_read(redis: object, cid: str) -> campaigns.CampaignRecord | None:
        monkeypatch.undo()
        return before

    monkeypatch.setattr(control.campaigns, "get", stale_read)
    report = await control.resume_campaign(pipe.redis, pipe.cid, pipe.clock, ack="list cleaned", by="lee")
    assert isinstance(report, dict)
    assert report["changed"]
    assert float(await pipe.redis.hget(keys.GUARD_ACK, pipe.cid)) == pipe.clock.now()
    assert (await pipe.record()).state is State.RUNNING


async def test_an_operators_pause_needs_no_ack_and_stores_none(pipe: Pipeline) -> None:
    """Resumed without --ack, an operator's pause (with its reason) logs no acknowledgement nobody gave."""
    await pipe.submit(recipients_csv())
    await campaigns.transition(pipe.redis, pipe.cid, Transition.PAUSE, pipe.clock.now(), reason="check", by="kim")
    report = await control.resume_campaign(pipe.redis, pipe.cid, pipe.clock, ack="", by="kim")
    assert isinstance(report, dict)
    assert report["changed"]
    assert await pipe.redis.hget(keys.GUARD_ACK, pipe.cid) is None
    assert await pipe.events("pause_acknowledged") == []
    assert [e.data.get("by") for e in await pipe.events("campaign_resumed")] == ["kim"]
