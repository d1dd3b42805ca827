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


async def test_an_acknowledged_resume_records_the_ack_before_the_state_changes(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --ack the acknowledgement is stored first, so a pacer tick right after the change already
    judges only the sends after it (it was written after, leaving the old sample one tick to re-pause)."""
    await pipe.submit(recipients_csv())
    await campaigns.transition(pipe.redis, pipe.cid, Transition.AUTO_PAUSE, pipe.clock.now(), reason="hard bounces")
    seen: list[object] = []
    real = campaigns.transition

    async def watching(*args: object, **kwargs: object) -> object:
        seen.append(await pipe.redis.hget(keys.GUARD_ACK, pipe.cid))
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(control.campaigns, "transition", watching)
    report = await control.resume_campaign(pipe.redis, pipe.cid, pipe.clock, ack="list cleaned", by="lee")
    assert isinstance(report, dict)
    assert report["changed"]
    [ack_at] = seen
    assert ack_at is not None
    assert float(str(ack_at)) == pipe.clock.now()
    assert (await pipe.record()).state is State.RUNNING
