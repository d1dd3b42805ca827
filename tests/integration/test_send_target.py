"""A campaign's mail goes to one place: the first claim binds it to where its worker sends, and a worker
sending elsewhere (a trial against the emulator, then Tencent's credentials set) pauses it without sending,
until the operator resumes it."""

from __future__ import annotations

from redis.asyncio import Redis

from orchestrator.control import pause_campaign, resume_campaign
from orchestrator.core.endpoint import sending_target
from orchestrator.ses.client import TencentSender
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import keys
from orchestrator.trace import trace
from tests.pipeline_harness import OTHERS, Pipeline, recipients_csv, settings_for

EMULATOR = sending_target("http://127.0.0.1:8765", "ap-guangzhou")
TENCENT = sending_target(None, "ap-guangzhou")


async def _run_as(pipe: Pipeline, target: str, seconds: float) -> None:
    """The pipeline for `seconds` of virtual time, its workers sending (they say) to `target`; the mail
    reaches the emulator either way, whose log shows what was really sent."""
    async with (
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender, workers=2) as run,
    ):
        for deps in run._deps:
            deps.target = target
        await run.run_until(pipe.clock.now() + seconds)


async def _bound(redis: Redis, cid: str) -> str | None:
    return await redis.hget(keys.campaign(cid), "target")  # type: ignore[no-any-return]


def test_where_sends_go_is_tencent_in_a_region_or_the_host_of_another_endpoint() -> None:
    assert TENCENT == "Tencent Cloud SES ap-guangzhou"
    assert sending_target("ses.tencentcloudapi.com", "ap-guangzhou") == TENCENT
    assert sending_target(None, "ap-hongkong") != TENCENT
    assert EMULATOR == "the endpoint at 127.0.0.1"
    assert sending_target("http://127.0.0.1:9999", "ap-hongkong") == EMULATOR  # another port: the same place


async def test_a_worker_sending_elsewhere_pauses_the_campaign_and_sends_nothing_until_resumed(
    pipe: Pipeline,
) -> None:
    await pipe.submit(recipients_csv(11))
    await _run_as(pipe, EMULATOR, 35)
    first = len(pipe.emu.send_log)
    assert 0 < first < pipe.n
    assert await _bound(pipe.redis, pipe.cid) == EMULATOR

    await _run_as(pipe, TENCENT, 120)
    rec = await pipe.record()
    assert rec.state == "paused"
    assert rec.paused_by == "worker"
    assert EMULATOR in rec.reason
    assert TENCENT in rec.reason
    assert len(pipe.emu.send_log) == first  # nothing sent from elsewhere
    # The one claimed went back to the queue, neither sent nor failed, its attempt not counted.
    assert {k: v for k, v in rec.counts.items() if v} == {"accepted": first, "queued": pipe.n - first}
    sent = {r.to_address for r in pipe.emu.send_log}
    addresses = [f"user{i}@{OTHERS[i % len(OTHERS)]}" for i in range(11)]  # recipients_csv(11)'s
    waiting = next(a for a in addresses if a not in sent)
    found = (await trace(pipe.redis, waiting, pipe.clock.now())).verdict
    assert found is not None  # trace says why: the worker's reason, and a plain resume (no --ack)
    assert found.why.startswith(f"not sent yet: campaign {pipe.cid} is paused (it sends to {EMULATOR}")
    assert found.fix == f"orchestrate resume {pipe.cid}"

    resumed = await resume_campaign(pipe.redis, pipe.cid, pipe.clock, "", "operator")  # no --ack needed
    assert isinstance(resumed, dict)
    assert (await pipe.record()).state == "running"
    await _run_as(pipe, TENCENT, 600)
    assert (await pipe.record()).state == "completed"
    assert await _bound(pipe.redis, pipe.cid) == TENCENT
    pipe.assert_each_sent_once()


async def test_an_operators_pause_and_resume_keep_the_campaign_bound_to_where_its_mail_went(
    pipe: Pipeline,
) -> None:
    """Paused by the operator during the trial, resumed once the workers send elsewhere: the first claim there
    still pauses it (a resume of any pause unbound it, and the rest went to the new place without a word)."""
    await pipe.submit(recipients_csv(11))
    await _run_as(pipe, EMULATOR, 35)
    first = len(pipe.emu.send_log)
    assert isinstance(await pause_campaign(pipe.redis, pipe.cid, pipe.clock, "lunch", "operator", wait_s=0), dict)
    assert isinstance(await resume_campaign(pipe.redis, pipe.cid, pipe.clock, "", "operator"), dict)
    assert await _bound(pipe.redis, pipe.cid) == EMULATOR
    await _run_as(pipe, TENCENT, 120)
    rec = await pipe.record()
    assert (rec.state, rec.paused_by) == ("paused", "worker")
    assert len(pipe.emu.send_log) == first
