"""What `status` (its text and `--json`, the snapshot the web page shows too) says of each identity while
something holds it back: a temporary block before per-domain shaping, a stop for the day, an
acknowledged guardrail pause."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator import control
from orchestrator.cli import main
from orchestrator.core.campaign_state import Transition
from orchestrator.core.decisions import identity_resume_at
from orchestrator.core.domain_shaping import BLOCK_S, DEFERRAL_BURST_REASON, GroupState
from orchestrator.core.quality import hour_of
from orchestrator.ses.emulator import FaultRule
from orchestrator.status import campaign_status
from orchestrator.store import campaigns, group_state, keys
from tests.pipeline_harness import Pipeline

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

BLOCKED = "FailedOperation.TemporaryBlocked"


def cli(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"REDIS_URL": redis_url, "COLUMNS": "200"})


async def shown_at(pipe: Pipeline, redis_url: str, now: float) -> tuple[dict[str, Any], list[str]]:
    """`status --json` and the text of `status` for the campaign at `now`, its lines' spaces squeezed."""
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(now))  # the commands read the virtual time
    as_json = await asyncio.to_thread(cli, redis_url, "status", pipe.cid, "--json")
    assert as_json.exit_code == 0, as_json.output
    text = await asyncio.to_thread(cli, redis_url, "status", pipe.cid)
    assert text.exit_code == 0, text.output
    return json.loads(as_json.output), [" ".join(line.split()) for line in text.output.splitlines()]


def two_domains(n: int) -> str:
    rows = [f"user{i}@{'gmail.com' if i % 2 else 'naver.com'},Name{i}" for i in range(2 * n)]
    return "email,first_name\n" + "\n".join(rows) + "\n"


async def test_a_block_before_shaping_is_listed_for_every_identity_until_it_ends(
    pipe: Pipeline, redis_url: str
) -> None:
    """TemporaryBlocked from gmail on day 1, shaping only from day 3: the campaign holds the provider group
    10 minutes for both identities, and both views list it, held after the code, until the block ends."""
    extra = {"shaping": {"max_domain_share": 1.0, "per_domain_from_day": 3, "per_domain_from_daily": 10**6}}
    await pipe.submit(two_domains(40), identities=2, extra=extra)
    pipe.emu.world.faults.append(FaultRule(code=BLOCKED, count=1, recipient_domain="gmail.com"))
    await pipe.run(120)
    [refusal] = [r for r in pipe.emu.service.status_log if r.send_status == 3008]
    [backoff] = await pipe.events("domain_backoff")
    assert backoff.data["shaped"] == "false"  # before shaping: only the campaign's hold acts
    until = float(await pipe.redis.zscore(keys.CampaignKeys(pipe.cid).blocks, "google"))
    assert until >= refusal.request_time + BLOCK_S
    data, lines = await shown_at(pipe, redis_url, pipe.clock.now())
    for ident in data["identities"]:
        groups = [(g["group"], g["reason"], datetime.fromisoformat(g["until"]).timestamp(), g["hourly_cap"])
                  for g in ident["groups"]]  # fmt: skip
        assert groups == [("google", f"held after {BLOCKED}", until, 0)], ident["id"]
        [g] = ident["groups"]
        assert f"{ident['id']} domain google: held after {BLOCKED} until {g['until']} (0/h," in " ".join(lines)
    data, lines = await shown_at(pipe, redis_url, until + 1)
    assert [ident["groups"] for ident in data["identities"]] == [[], []]
    assert not any(" domain google:" in line for line in lines)


async def test_a_campaign_block_beside_shaping_shows_whichever_holds_longer(pipe: Pipeline) -> None:
    """Shaping on: t-id0's own backoff holds google longer than the campaign's block (its own shown), naver only
    backs off (the block shown, held); t-id1 has no state of its own: both blocks, google's code from t-id0."""
    extra = {"shaping": {"max_domain_share": 1.0, "per_domain_from_day": 1}}
    await pipe.submit(two_domains(5), identities=2, extra=extra)
    now = pipe.clock.now()
    own = {
        "google": GroupState(day=1, blocked_at=now - 60, reason=BLOCKED),
        "naver": GroupState(day=1, blocked_at=now - BLOCK_S - 5, reason=DEFERRAL_BURST_REASON),
    }
    for group, state in own.items():
        await pipe.redis.hset(keys.IdentityKeys("t-id0").groups, group, group_state.encode(state))  # type: ignore[misc]
    await pipe.redis.zadd(keys.CampaignKeys(pipe.cid).blocks, {"google": now + 300, "naver": now + 300, "kakao": now})
    st = await campaign_status(pipe.redis, pipe.cid, now)
    assert st is not None
    shown = {
        i.id: [
            (g["group"], g["reason"], datetime.fromisoformat(g["until"]).timestamp(), g["hourly_cap"]) for g in i.groups
        ]
        for i in st.identities
    }
    assert shown == {
        "t-id0": [
            ("google", f"held after {BLOCKED}", now - 60 + BLOCK_S, 0),
            ("naver", "held after a block", now + 300, 0),
        ],
        "t-id1": [("google", f"held after {BLOCKED}", now + 300, 0), ("naver", "held after a block", now + 300, 0)],
    }


@pytest.mark.parametrize(
    ("timezone", "window", "next_send"),
    [
        pytest.param("UTC", None, "2026-12-02T00:00:00+00:00", id="at-the-stops-end"),
        # Stopped until Tencent's day turns (01:00 in Seoul), the window closed then: its opening.
        pytest.param("Asia/Seoul", "09:00-18:00", "2026-12-02T09:00:00+09:00", id="window-closed-at-the-stops-end"),
    ],
)
async def test_next_send_of_an_identity_stopped_for_the_day_is_when_the_stop_ends(
    pipe: Pipeline, redis_url: str, timezone: str, window: str | None, next_send: str
) -> None:
    """ExceedSendLimit stops one identity for the day: its "next send" is when the stop ends (moved to the
    window's opening when it is closed then), not now; the other identity's is still now."""
    extra: dict[str, Any] = {"timezone": timezone, **({"sending_window": window} if window else {})}
    await pipe.submit(two_domains(40), identities=2, extra=extra)
    pipe.emu.world.faults.append(FaultRule(code="FailedOperation.ExceedSendLimit", count=1))
    await pipe.run(60)
    [stop] = await pipe.events("identity_stopped_today")
    now = pipe.clock.now()
    data, lines = await shown_at(pipe, redis_url, now)
    by_id = {ident["id"]: ident for ident in data["identities"]}
    stopped = by_id.pop(stop.identity)
    [other] = by_id.values()
    resume_at = identity_resume_at(stop.t, (await pipe.record()).spec.zone)
    assert datetime.fromisoformat(stopped["stopped_until"]).timestamp() == resume_at
    assert stopped["next_slot"] == next_send
    assert datetime.fromisoformat(other["next_slot"]).timestamp() - now < 60
    [row] = [line for line in lines if line.startswith(f"{stop.identity} ") and " / " in line]  # its table row
    assert f" {next_send} stopped until {stopped['stopped_until']}" in row


async def test_next_send_while_a_block_holds_every_pending_recipient_is_when_the_block_ends(
    pipe: Pipeline, redis_url: str
) -> None:
    """Every recipient at gmail, TemporaryBlocked: once the pacer has parked them all in `later`, nothing may
    go before the block ends, and that is the "next send" shown (it said now, the identity's own slot)."""
    rows = "email,first_name\n" + "".join(f"user{i}@gmail.com,Name{i}\n" for i in range(40))
    await pipe.submit(rows, identities=1)
    pipe.emu.world.faults.append(FaultRule(code=BLOCKED, count=1, recipient_domain="gmail.com"))
    await pipe.run(120)
    ck = keys.CampaignKeys(pipe.cid)
    until = float(await pipe.redis.zscore(ck.blocks, "google"))
    now = pipe.clock.now()
    assert until > now + 60
    assert await pipe.redis.llen(ck.queue) == 0  # all parked: the case this test is about
    data, lines = await shown_at(pipe, redis_url, now)
    [ident] = data["identities"]
    assert datetime.fromisoformat(ident["next_slot"]).timestamp() >= until
    [row] = [line for line in lines if line.startswith(f"{ident['id']} ") and " / " in line]  # its table row
    assert ident["next_slot"] in row
    data, _ = await shown_at(pipe, redis_url, until + 1)
    assert datetime.fromisoformat(data["identities"][0]["next_slot"]).timestamp() - (until + 1) < 60


async def test_next_send_of_a_group_the_domain_share_holds_alone_is_now(pipe: Pipeline, redis_url: str) -> None:
    """Every pending recipient held back by the domain share, nothing else waiting: the grant script lets the
    group go at once (the share holds nothing back when no other mail waits), so "next send" is now, not the
    share's time (it said 30 minutes while the run sent at once)."""
    rows = "email,first_name\n" + "".join(f"user{i}@gmail.com,Name{i}\n" for i in range(40))
    await pipe.submit(rows, identities=1)
    ck = keys.CampaignKeys(pipe.cid)
    now = pipe.clock.now()
    queued = await pipe.redis.lrange(ck.queue, 0, -1)
    await pipe.redis.delete(ck.queue)
    await pipe.redis.rpush(ck.held_list("google"), *queued)
    await pipe.redis.zadd(ck.held, {"google": now + 1800})
    data, _ = await shown_at(pipe, redis_url, now)
    assert datetime.fromisoformat(data["identities"][0]["next_slot"]).timestamp() - now < 60
    await pipe.run(120)
    assert pipe.emu.send_log  # and it did go
    assert pipe.emu.send_log[0].time - now < 60


async def test_after_an_acknowledged_pause_the_quality_line_flags_what_the_guardrails_judge(
    pipe: Pipeline, redis_url: str
) -> None:
    """20 % hard bounces paused the campaign; after `resume --ack`, from the next whole hour the guardrails
    judge only fresh sends (none yet): the quality line no longer says PAUSE, as the guardrail line says clear."""
    await pipe.submit(two_domains(5), identities=1)
    now = pipe.clock.now()
    hour = hour_of(now) - 1  # a whole hour of sends with 20 % hard bounces, in the 24 h window
    cohorts = {f"{hour}|accepted|i|t-id0": 2000, f"{hour}|hard_bounce|i|t-id0": 400}
    await pipe.redis.hset(keys.FB_COHORTS, mapping=cohorts)  # type: ignore[misc]
    data, lines = await shown_at(pipe, redis_url, now)
    [ident] = data["identities"]
    assert ident["guardrails"]["metrics"]["hard_bounce"]["level"] == "pause"
    assert ident["quality_line"].endswith("PAUSE:hard_bounce")
    await campaigns.transition(pipe.redis, pipe.cid, Transition.AUTO_PAUSE, now, reason="guardrail: hard_bounce")
    resumed = await control.resume_campaign(pipe.redis, pipe.cid, pipe.clock, ack="list cleaned", by="lee")
    assert isinstance(resumed, dict)
    data, lines = await shown_at(pipe, redis_url, now + 3600)
    [ident] = data["identities"]
    assert ident["guardrails"]["metrics"]["hard_bounce"]["level"] == "too_few"
    assert ident["quality"]["metrics"]["hard_bounce"]["count"] == 400  # the figures: the whole window still
    assert "PAUSE" not in ident["quality_line"]
    assert "hard 20.0% (n=2,000)" in ident["quality_line"]
    [quality] = [line for line in lines if line.startswith("t-id0 quality:")]
    assert "PAUSE" not in quality
    assert any(line.startswith("t-id0 guardrails: clear (") for line in lines)


@pytest.mark.parametrize("args", [["status", ""], ["status", "", "--json"], ["status", "", "--in-doubt"]])
async def test_status_of_an_empty_campaign_id_is_refused_as_by_every_command(
    redis: Any, redis_url: str, args: list[str]
) -> None:
    """`status ''` said nothing wrong and listed every campaign; pause, logs, export... say "no campaign ''"."""
    out = await asyncio.to_thread(CliRunner().invoke, main, args, env={"REDIS_URL": redis_url})
    assert out.exit_code == 2, out.output
    assert "error: no campaign ''" in out.output
