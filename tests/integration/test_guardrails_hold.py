"""Guardrail holds from the emulator's simulated recipients: complaints between the lines, and opens a day late.

The emulator draws each mail's events with its seeded generator and posts them to the real callback
route as the shared virtual clock reaches them; the real pacer judges the identity at each day roll.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.campaign_state import Transition
from orchestrator.core.guardrails import COMPLAINT_PCT, OPEN_HOLD_PCT
from orchestrator.guarding import judge_identities, record_ack
from orchestrator.ses.emulator import Behaviour
from orchestrator.store import campaigns, events, identities
from orchestrator.store.campaigns import State
from tests.callback_drive import drive
from tests.pipeline_harness import START, Pipeline

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

DAY_S = 86_400.0
#: 2,000 sends a day, all in the day's first hour: by midnight they are some 23 hours old.
DAILY: dict[str, Any] = {
    "plan": {"rows": [{"days": "1-30", "daily": 2000, "hourly": 3600}]},
    "shaping": {"max_domain_share": 1.0},
}


def csv_of(n: int) -> str:
    return "email,first_name\n" + "".join(f"user{i}@gmail.com,Name{i}\n" for i in range(n)) + ""


async def rolls(pipe: Pipeline) -> list[tuple[str, str, dict[str, str]]]:
    """The day rolls of the run so far: (type, identity, data) of each `day_held` / `day_advanced`."""
    found = await events.read(pipe.redis, None, count=100_000)
    return [(e.type, e.identity, e.data) for e in found if e.type in ("day_held", "day_advanced")]


async def test_complaints_between_the_lines_hold_the_day_without_pausing(pipe: Pipeline) -> None:
    """Complaints above 0.1 % and below 0.3 % of the day's sends: the day is held at midnight, the campaign runs.

    4,000 sends at 0.165 % (seeded): the hold line's own bound (HOLD_Z, 1.0) holds from 6 complaints on (at the
    pause line's 2.5, which judged the holds before, it took more than 0.3 % of a sample this size).
    """
    pipe.emu.world.behaviour = Behaviour(spamreport_rate=0.00165, open_rate=0.6)
    extra = {**DAILY, "plan": {"rows": [{"days": "1-30", "daily": 4000, "hourly": 7200}]}}
    await pipe.submit(csv_of(4300), extra=extra)
    await drive(pipe, START + DAY_S + 60 - pipe.clock.now())
    [(etype, identity, data)] = await rolls(pipe)
    assert (etype, identity, data["metric"]) == ("day_held", "t-id0", "complaint")
    assert COMPLAINT_PCT[0] / 100 < float(data["value"]) < COMPLAINT_PCT[1] / 100
    assert float(data["threshold"]) == COMPLAINT_PCT[0] / 100
    assert int(data["sample"]) == 4000
    rec = await pipe.record()
    assert rec.state is State.RUNNING
    assert await pipe.events("campaign_paused") == []
    state = await identities.load(pipe.redis, "t-id0")
    assert state is not None
    assert state.progress.warmup_day == 1


async def test_low_opens_hold_the_day_only_once_the_sends_are_a_day_old(pipe: Pipeline) -> None:
    """Marketing mail opening at 30 %: not judged at the first midnight (sends under 24 h old), held at the second."""
    pipe.emu.world.behaviour = Behaviour(open_rate=0.3)
    await pipe.submit(csv_of(4500), extra=DAILY)
    await drive(pipe, 12 * 3600)  # every open of the first day's sends has come (they come within 6 h)
    verdicts = await judge_identities(pipe.redis, pipe.cid, (await pipe.record()).spec, ["t-id0"], pipe.clock.now())
    opens = verdicts["t-id0"].verdicts["open"]
    assert (opens.level, verdicts["t-id0"].holds) == ("too_few", [])
    await drive(pipe, START + DAY_S + 60 - pipe.clock.now())
    assert [(t, i) for t, i, _ in await rolls(pipe)] == [("day_advanced", "t-id0")]
    await drive(pipe, START + 2 * DAY_S + 60 - pipe.clock.now())
    _, (etype, identity, data) = await rolls(pipe)
    assert (etype, identity, data["metric"]) == ("day_held", "t-id0", "open")
    assert 0.25 < float(data["value"]) < 0.35
    assert float(data["threshold"]) == OPEN_HOLD_PCT / 100
    assert int(data["sample"]) == 2000  # the first day's sends: those a day old
    assert (await pipe.record()).state is State.RUNNING


async def test_judging_in_the_hour_of_an_acknowledgement_reads_no_send_before_it(pipe: Pipeline) -> None:
    """Right after `resume --ack` (same hour), the guardrails judge an empty sample instead of failing,
    and the pacer goes on granting at once."""
    pipe.emu.world.behaviour = Behaviour(open_rate=0.6)
    slow = {**DAILY, "plan": {"rows": [{"days": "1-30", "daily": 2000, "hourly": 120}]}}
    await pipe.submit(csv_of(600), extra=slow)
    await drive(pipe, 2 * 3600)
    spec = (await pipe.record()).spec
    before = await judge_identities(pipe.redis, pipe.cid, spec, ["t-id0"], pipe.clock.now())
    assert before["t-id0"].verdicts["hard_bounce"].sample > 0
    acked = pipe.clock.now()
    await record_ack(pipe.redis, pipe.cid, acked)
    after = await judge_identities(pipe.redis, pipe.cid, spec, ["t-id0"], acked)
    assert {v.sample for v in after["t-id0"].verdicts.values()} == {0}
    await drive(pipe, 600)
    assert len([r for r in pipe.emu.send_log if r.time > acked]) >= 15  # 120 an hour: 20 in 10 minutes


@pytest.mark.parametrize("resume", ["plain", "ack"])
async def test_a_day_closed_after_a_pause_over_midnight_is_judged_on_its_own_sends(pipe: Pipeline, resume: str) -> None:
    """8 % hard bounces on day D, then the operator pauses at 02:00 and resumes at D+1 09:00 (with or
    without acknowledging): the day closed at 09:00 is held on D's bounces. Judged over the 24 hours
    before 09:00 it held too few sends, and with the acknowledgement none at all: it advanced."""
    pipe.emu.world.behaviour = Behaviour(hard_bounce_rate=0.08, open_rate=0.6)
    await pipe.submit(csv_of(2300), identities=1, extra=DAILY)
    await drive(pipe, 2 * 3600)  # the day's 2,000 go out in its first hour
    await campaigns.transition(pipe.redis, pipe.cid, Transition.PAUSE, pipe.clock.now(), reason="night", by="op")
    pipe.clock.advance(START + DAY_S + 9 * 3600 - pipe.clock.now())
    if resume == "ack":
        await record_ack(pipe.redis, pipe.cid, pipe.clock.now())
    await campaigns.transition(pipe.redis, pipe.cid, Transition.RESUME, pipe.clock.now(), reason="", by="op")
    await drive(pipe, 120)
    [(etype, identity, data)] = await rolls(pipe)
    assert (etype, identity, data["metric"]) == ("day_held", "t-id0", "hard_bounce")
    assert int(data["sample"]) == 2000
    state = await identities.load(pipe.redis, "t-id0")
    assert state is not None
    assert state.progress.warmup_day == 1


async def test_a_window_shorter_than_the_day_still_judges_the_day_it_rolls(pipe: Pipeline) -> None:
    """`window_hours: 6` and a day sent in its first hour: at midnight a 6-hour window held none of its
    sends, so 7 % hard bounces never held the day. The roll judges at least the day it closes."""
    pipe.emu.world.behaviour = Behaviour(hard_bounce_rate=0.07, open_rate=0.6)
    await pipe.submit(csv_of(2300), extra={**DAILY, "guardrails": {"window_hours": 6}})
    await drive(pipe, START + DAY_S + 60 - pipe.clock.now())
    [(etype, identity, data)] = await rolls(pipe)
    assert (etype, identity, data["metric"]) == ("day_held", "t-id0", "hard_bounce")
    assert int(data["sample"]) == 2000
