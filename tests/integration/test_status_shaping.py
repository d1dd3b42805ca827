"""`status` and `status --json` agree on each identity's guardrail state and its held or throttled domain groups."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.core.domain_shaping import BLOCK_S, STEP_S, GroupState
from orchestrator.core.quality import hour_of
from orchestrator.store import group_state, keys
from tests.pipeline_harness import Pipeline

SHAPED: dict[str, Any] = {
    "identities": [
        {"id": "t-id0", "from": "News <news@d0.example.com>", "warmup_day": 3},
        {"id": "t-id1", "from": "News <news@d1.example.com>", "warmup_day": 3},
    ],
    "plan": {"rows": [{"days": "1-2", "daily": 1000, "hourly": 40}, {"days": "3-9", "daily": 5000, "hourly": 360}]},
    "shaping": {"max_domain_share": 1.0, "per_domain_from_day": 1},
}


def cli(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"REDIS_URL": redis_url, "COLUMNS": "200"})


async def test_status_text_and_json_show_the_same_groups_and_guardrails(pipe: Pipeline, redis_url: str) -> None:
    """A held, a backing-off and a lagging group, and a held identity: both views name each with reason and until."""
    await pipe.submit("email,first_name\na@gmail.com,A\nb@naver.com,B\n", identities=2, extra=SHAPED)
    now = pipe.clock.now()
    stored = {
        "google": GroupState(day=3, blocked_at=now - 60, reason="FailedOperation.TemporaryBlocked"),
        "naver": GroupState(day=3, blocked_at=now - BLOCK_S - STEP_S - 5, reason="a deferral burst"),
        "kakao": GroupState(day=1),
    }
    for group, state in stored.items():
        await pipe.redis.hset(keys.IdentityKeys("t-id0").groups, group, group_state.encode(state))
    hour = hour_of(now) - 1  # a whole hour of sends with 8 % hard bounces: the day is held
    await pipe.redis.hset(
        keys.FB_COHORTS, mapping={f"{hour}|accepted|i|t-id0": 2000, f"{hour}|hard_bounce|i|t-id0": 160}
    )
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(now))
    shown = await asyncio.to_thread(cli, redis_url, "status", pipe.cid, "--json")
    assert shown.exit_code == 0, shown.output
    first, second = json.loads(shown.output)["identities"]
    groups = [(g["group"], g["reason"], g["until"], g["hourly_cap"]) for g in first["groups"]]
    assert [(g, r, u and datetime.fromisoformat(u).timestamp(), h) for g, r, u, h in groups] == [
        ("google", "held after FailedOperation.TemporaryBlocked", now - 60 + BLOCK_S, 0),
        ("kakao", "its own warm-up day 1", None, 40),
        ("naver", "backing off at 50% after a deferral burst", now - 5 + STEP_S, 180),
    ]
    assert second["groups"] == []
    assert first["guardrails"]["held"] is True
    assert first["guardrails"]["held_because"].startswith("hard_bounce on t-id0: ")
    assert second["guardrails"]["held"] is False
    text = await asyncio.to_thread(cli, redis_url, "status", pipe.cid)
    assert text.exit_code == 0, text.output
    lines = [" ".join(line.split()) for line in text.output.splitlines()]
    assert "t-id0 1 domain group on a warm-up day of its own, below the identity's caps" in " ".join(lines)
    for group, reason, until, hourly in groups:
        if group == "kakao":  # merely on a day of its own: counted, not listed (a big list has thousands)
            assert not any(line.startswith("t-id0 domain kakao") for line in lines)
            continue
        assert any(line.startswith(f"t-id0 domain {group}: {reason}") for line in lines), group
        mark = f" until {until} ({hourly}/h," if until else f"{reason} ({hourly}/h,"
        assert any(mark in line for line in lines if line.startswith(f"t-id0 domain {group}:")), group
    assert f"t-id0 HELD: {first['guardrails']['held_because']}" in " ".join(lines)
    assert any(line.startswith("t-id1 guardrails: clear (") for line in lines)
    assert not any(line.startswith("t-id1 domain") for line in lines)


async def test_a_group_backing_off_shows_when_tencents_quota_is_under_the_shaping_cap(
    pipe: Pipeline, redis_url: str
) -> None:
    """Shaping starts on the plan's daily cap (5,000 here, `per_domain_from_daily` 1,000), as the pacer decides
    it: an identity held to 500 by Tencent's quota still backs a group off, and `status` lists it (it
    decided on the quota-lowered cap and showed no group)."""
    quota = {
        "identities": [{"id": "t-id0", "from": "News <news@d0.example.com>", "warmup_day": 3, "daily_quota": 500}],
        "shaping": {"max_domain_share": 1.0, "per_domain_from_day": 50, "per_domain_from_daily": 1000},
    }
    await pipe.submit("email,first_name\na@gmail.com,A\nb@naver.com,B\n", extra={**SHAPED, **quota})
    now = pipe.clock.now()
    backing_off = GroupState(day=3, blocked_at=now - BLOCK_S - STEP_S - 5, reason="a deferral burst")
    await pipe.redis.hset(keys.IdentityKeys("t-id0").groups, "naver", group_state.encode(backing_off))
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(now))
    shown = await asyncio.to_thread(cli, redis_url, "status", pipe.cid, "--json")
    assert shown.exit_code == 0, shown.output
    [ident] = json.loads(shown.output)["identities"]
    assert ident["daily_cap"] == 500
    assert [(g["group"], g["reason"]) for g in ident["groups"]] == [
        ("naver", "backing off at 50% after a deferral burst")
    ]


async def test_status_lists_ten_held_groups_and_counts_the_rest(pipe: Pipeline, redis_url: str) -> None:
    """15 groups held and 3,000 on a warm-up day of their own (a big list's company domains under per-domain
    shaping): the text shows 10 held, says how many more, and counts the others in one line; `--json`
    lists every one."""
    await pipe.submit("email,first_name\na@gmail.com,A\n", identities=2, extra=SHAPED)
    now = pipe.clock.now()
    held = GroupState(day=3, blocked_at=now - 60, reason="FailedOperation.TemporaryBlocked")
    mapping = {f"held{n:02d}.example": group_state.encode(held) for n in range(15)}
    mapping |= {f"corp{n}.example": group_state.encode(GroupState(day=1)) for n in range(3000)}
    await pipe.redis.hset(keys.IdentityKeys("t-id0").groups, mapping=mapping)
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(now))
    text = await asyncio.to_thread(cli, redis_url, "status", pipe.cid)
    assert text.exit_code == 0, text.output
    lines = [" ".join(line.split()) for line in text.output.splitlines()]
    assert [line.split(":")[0] for line in lines if line.startswith("t-id0 domain ")] == [
        f"t-id0 domain held{n:02d}.example" for n in range(10)
    ]
    assert "t-id0 and 5 more domain groups held or backing off (`--json` lists them)" in lines
    assert (
        "t-id0 3,000 domain groups on a warm-up day of their own, below the identity's caps (`--json` lists them)"
        in lines
    )
    assert len(lines) < 40
    shown = await asyncio.to_thread(cli, redis_url, "status", pipe.cid, "--json")
    assert len(json.loads(shown.output)["identities"][0]["groups"]) == 3015


async def test_status_into_a_pipe_keeps_each_line_whole(pipe: Pipeline, redis_url: str) -> None:
    """No terminal and no COLUMNS: lines up to 200 characters stay whole (rich broke them at 80, a figure
    and its label on two lines)."""
    await pipe.submit("email,first_name\na@gmail.com,A\n", identities=2, extra=SHAPED)
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["status", pipe.cid], env={"REDIS_URL": redis_url, "COLUMNS": None}
    )
    assert result.exit_code == 0, result.output
    [summary] = [line for line in result.output.splitlines() if line.startswith("accepted ")]
    assert "suppressed 0" in summary
    assert " eta " in summary
