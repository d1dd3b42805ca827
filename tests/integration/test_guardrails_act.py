"""The guardrails acting end to end: simulated recipients, Tencent's callbacks, the pacer's pause and hold.

The emulator draws each recipient's fate (its `Behaviour`, per recipient domain), posts the events
to the real callback route; the real pacer judges each identity and pauses the campaign or holds a
warm-up step. Everything runs on the shared virtual clock.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator import export
from orchestrator.cli import main
from orchestrator.core.guardrails import BOUNCE_MIN_SAMPLE, COMPLAINT_MIN_SAMPLE
from orchestrator.core.quality import quality_hours
from orchestrator.guarding import Guard
from orchestrator.pacing import PacerConfig
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import Behaviour
from orchestrator.store import campaigns, events, identities, keys
from orchestrator.store.campaigns import State
from orchestrator.store.feedback import FeedbackStore
from tests.callback_drive import drive
from tests.pipeline_harness import START, Pipeline, settings_for
from workers.followup import feedback_pass
from workers.pacer import build_pacer

DAY_S = 86_400.0
#: Fast sending: 1 a second per identity, a cap the run can reach.
QUICK: dict[str, Any] = {
    "plan": {"rows": [{"days": "1-30", "daily": 20000, "hourly": 3600}]},
    "shaping": {"max_domain_share": 1.0},
}


def recipients(n: int, domain: str, start: int = 0) -> list[str]:
    return [f"user{i}@{domain},Name{i}" for i in range(start, start + n)]


def csv_of(rows: list[str]) -> str:
    return "\n".join(["email,first_name", *rows]) + "\n"


def cli(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"REDIS_URL": redis_url})


async def accepted(pipe: Pipeline) -> int:
    return (await pipe.record()).counts["accepted"]


async def test_hard_bounces_pause_then_ack_resumes_without_retrip(pipe: Pipeline, redis_url: str) -> None:
    """At 12 % hard bounces the campaign pauses itself with the reason; resume needs --ack, then goes on."""
    pipe.emu.world.behaviour = Behaviour(hard_bounce_rate=0.12)
    await pipe.submit(csv_of(recipients(1500, "gmail.com")), identities=1, extra=QUICK)
    await drive(pipe, 6 * 3600)
    rec = await pipe.record()
    assert rec.state is State.PAUSED
    assert rec.paused_by == "automatic"
    assert rec.reason.startswith("guardrail: hard_bounce on t-id0: ")
    assert "above the pause line 10 %" in rec.reason
    paused_at = await accepted(pipe)
    assert BOUNCE_MIN_SAMPLE < paused_at < 1200  # within its minimum sample and a little (spec: 5,000)
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(pipe.clock.now()))  # the commands read the run's virtual time
    shown = await asyncio.to_thread(cli, redis_url, "status", pipe.cid, "--json")
    assert shown.exit_code == 0, shown.output
    guard = json.loads(shown.output)["identities"][0]["guardrails"]
    assert guard["held"] is True
    # The same verdict: metric, identity, sample and line (bounces of sends in flight at the pause may
    # still arrive after it, so the rate and its bound may have moved since).
    same = ("hard_bounce on t-id0: ", f" of {paused_at:,} sends, lower bound ", " above the pause line 10 %")
    assert all(part in guard["held_because"] and part in rec.reason for part in same)
    bounces = guard["metrics"]["hard_bounce"]
    assert (bounces["level"], bounces["line"], bounces["sample"]) == ("pause", 0.1, paused_at)
    assert bounces["bound"] > 0.1
    assert guard["metrics"]["complaint"]["level"] == "too_few"
    refused = await asyncio.to_thread(cli, redis_url, "resume", pipe.cid)
    assert refused.exit_code == 2
    assert len(refused.output.strip().splitlines()) == 1
    assert "hard_bounce on t-id0" in refused.output
    assert "--ack" in refused.output
    assert (await pipe.record()).state is State.PAUSED
    done = await asyncio.to_thread(cli, redis_url, "resume", pipe.cid, "--ack", "list cleaned")
    assert done.exit_code == 0, done.output
    acks = await pipe.events("pause_acknowledged")
    assert [e.data.get("note") for e in acks] == ["list cleaned"]
    # The rest goes to clean addresses: the old sample alone must not pause the campaign again.
    pipe.emu.world.behaviour = Behaviour()
    pipe.clock.advance(3600 - pipe.clock.now() % 3600)  # the ack's hour is not judged: start in the next
    await drive(pipe, 6 * 3600)
    rec = await pipe.record()
    assert rec.state is State.COMPLETED, rec.reason
    assert len(await pipe.events("campaign_paused")) == 1
    assert await accepted(pipe) == pipe.n


async def test_complaints_above_pause_line_pause(pipe: Pipeline) -> None:
    """Spam complaints well above 0.3 % pause the campaign once their minimum sample is in.

    Complaints come in over a day (5 min to 24 h after the send): in the campaign's first hour only
    a fiftieth or so of them has arrived, so the recipients complain often here: at half of them, some
    30 complaints are in after 3,600 sends, a lower bound well above the line before the 4,000th (at
    a fifth of them the pause came just before or just after the last send, by the draw).
    """
    pipe.emu.world.behaviour = Behaviour(spamreport_rate=0.5)
    await pipe.submit(csv_of(recipients(4000, "naver.com")), identities=1, extra=QUICK)
    await drive(pipe, 12 * 3600)
    rec = await pipe.record()
    assert rec.state is State.PAUSED
    assert rec.reason.startswith("guardrail: complaint on t-id0: ")
    assert "above the pause line 0.3 %" in rec.reason
    assert COMPLAINT_MIN_SAMPLE <= await accepted(pipe) < pipe.n


async def test_hold_keeps_the_bad_identity_day_while_clean_one_advances(pipe: Pipeline) -> None:
    """An identity at 7 % hard bounces is held at the day roll (`day_held` with the metric); a clean one advances."""
    pipe.emu.world.behaviour = Behaviour(open_rate=0.6)  # marketing mail opened enough: only bounces matter
    pipe.emu.world.domains = {"bad.example.org": Behaviour(hard_bounce_rate=0.07, open_rate=0.6)}
    plan = {"plan": {"rows": [{"days": "1-30", "daily": 2000, "hourly": 3600}]}, "shaping": {"max_domain_share": 1.0}}
    bad = await pipe.submit(csv_of(recipients(2300, "bad.example.org")), identities=1, extra=plan)
    good_extra = {**plan, "name": "g", "identities": [{"id": "g-id0", "from": "News <news@d1.example.com>"}]}
    await pipe.submit(csv_of(recipients(2300, "gmail.com")), identities=1, extra=good_extra)
    await drive(pipe, START + DAY_S + 60 - pipe.clock.now())  # past the day roll at midnight UTC
    held = [e for e in await events.read(pipe.redis, None, count=100_000) if e.type == "day_held"]
    advanced = [e for e in await events.read(pipe.redis, None, count=100_000) if e.type == "day_advanced"]
    assert [e.identity for e in held] == ["t-id0"]
    assert held[0].data["metric"] == "hard_bounce"
    assert 0.05 < float(held[0].data["value"]) < 0.1
    assert float(held[0].data["threshold"]) == 0.05
    assert int(held[0].data["sample"]) == 2000  # the day's sends, all in the rolling window
    assert [e.identity for e in advanced] == ["g-id0"]
    bad_state, good_state = await identities.load(pipe.redis, "t-id0"), await identities.load(pipe.redis, "g-id0")
    assert bad_state is not None
    assert good_state is not None
    assert (bad_state.progress.warmup_day, good_state.progress.warmup_day) == (1, 2)
    rec = await campaigns.get(pipe.redis, bad)
    assert rec is not None
    assert rec.state is State.RUNNING  # a hold keeps sending at the same step: it does not pause


@pytest.mark.parametrize(("content", "opens", "line"), [("signup", 200, "0.8"), ("marketing", 120, "0.5")])
async def test_low_opens_warn_once_a_day(pipe: Pipeline, content: str, opens: int, line: str) -> None:
    """Sign-up mail opening at 50 % (under its warn line 80 %), and marketing mail at 30 % (under its hold
    line 50 %: the table's "- (warn)", it warned only at midnight's `day_held`), give one
    `guardrail_warning` a local day; the campaign keeps running."""
    await pipe.submit(csv_of(recipients(10, "gmail.com")), identities=1, extra={**QUICK, "content": content})
    now = START + 2 * DAY_S
    sent_hour = int((now - DAY_S - 3600) // 3600)  # sends a day old: their opens are judged
    recent = int(now // 3600) - 1
    await pipe.redis.hset(
        keys.FB_COHORTS,
        mapping={
            f"{sent_hour}|accepted|i|t-id0": 410,
            f"{sent_hour}|delivered|i|t-id0": 400,  # opens are judged per delivered mail
            f"{sent_hour}|open|i|t-id0": opens,
            f"{recent}|accepted|i|t-id0": 10,  # sends of the last hour: Tencent's events come in
            f"{recent}|delivered|i|t-id0": 10,
        },
    )
    guard = Guard(pipe.redis)
    for at, today in ((now, "2026-12-03"), (now + 120, "2026-12-03"), (now + DAY_S / 2, "2026-12-03")):
        verdicts = await guard.check(await pipe.record(), at, today)
        assert verdicts is not None
        assert verdicts["t-id0"].warnings[0].line.metric == "open"
    warned = await pipe.events("guardrail_warning")
    assert [(e.identity, e.data["metric"], e.data["threshold"], e.data["sample"]) for e in warned] == [
        ("t-id0", "open", line, "400")
    ]
    verdicts = await guard.check(await pipe.record(), now + DAY_S / 2 + 60, "2026-12-04")
    assert verdicts is not None
    assert len(await pipe.events("guardrail_warning")) == 2  # the next local day: once again
    assert (await pipe.record()).state is State.RUNNING


@pytest.mark.parametrize("send_status", [3030, 3033, 3014, 1007])
async def test_a_send_status_tencent_did_not_send_on_settles_the_mail_and_may_pause(
    pipe: Pipeline, send_status: int
) -> None:
    """A GetSendEmailStatus row with a SendStatus other than 0 on an accepted mail: Tencent did not send it.
    The follow-up counts it dropped and stops asking; 3030 (sending limited on bounces), 3033 (no balance) and
    3014 (sender domain not verified) pause the mail's campaign, 1007 (one blocklisted address) does not."""
    await pipe.submit(csv_of(recipients(400, "gmail.com")), identities=1, extra=QUICK)
    await pipe.run(60)  # a first few sends; the campaign keeps running
    assert (await pipe.record()).state is State.RUNNING
    row = pipe.emu.service.status_log[0]
    row.send_status = send_status  # Tencent's record now says it did not send this mail
    assert await pipe.redis.zscore(keys.FB_PENDING, row.message_id) is not None
    pipe.clock.advance(7 * 3600)  # the delivery follow-up asks about sends 6 h old
    async with TencentSender(settings_for(pipe.emu)) as sender:
        pacer = build_pacer(pipe.redis, pipe.clock, PacerConfig(), sender=sender)
        await feedback_pass(pacer, pipe.clock.now())
    assert await pipe.redis.zscore(keys.FB_PENDING, row.message_id) is None  # settled: not asked again
    cohorts = await FeedbackStore(pipe.redis).buckets("c", pipe.cid, quality_hours(pipe.clock.now()))
    assert sum(hour.get("dropped", 0) for hour in cohorts.values()) == 1
    # `export` says so beside the ledger's `accepted` (Tencent took the call): the reason names the code.
    [exported] = [r async for r in export.rows(pipe.redis, pipe.cid) if r["message_id"] == row.message_id]
    assert exported["state"] == "accepted"
    assert exported["reason"].startswith(f"dropped by Tencent: SendStatus {send_status}")
    assert [r async for r in export.rows(pipe.redis, pipe.cid) if r["reason"].startswith("dropped")] == [exported]
    rec = await pipe.record()
    if send_status == 1007:
        assert rec.state is State.RUNNING
        return
    assert rec.state is State.PAUSED
    assert rec.paused_by == "automatic"
    assert str(send_status) in rec.reason
