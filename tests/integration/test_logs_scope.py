"""`orchestrate logs CAMPAIGN`: its own events, and its identities' own (a day closed, a stop for the day,
whichever campaign's sends made them) while it existed, never another campaign's days before or after it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.commands.logs import log_scope
from orchestrator.commands.watch import _Feed
from orchestrator.store import events, keys
from tests.fakes import submit_file
from tests.pipeline_harness import START
from tests.pipeline_helpers import write_campaign

HOUR = 3600.0
SHARED = {"identities": [{"id": "s-id0", "from": "News <news@d0.example.com>"}]}


async def _logged(redis_url: str, cid: str) -> list[tuple[str, str]]:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["logs", cid, "--json"], env={"REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    return [(e["type"], e.get("mark", "")) for e in map(json.loads, result.output.splitlines())]


async def test_a_campaigns_log_shows_its_identities_events_only_while_it_existed(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    first = await submit_file(redis, write_campaign(tmp_path, 3, name="a", extra=SHARED), START)
    await events.emit(redis, START + 1 * HOUR, "day_advanced", "", "s-id0", mark="a-only")
    other_list = "email,first_name\nsomeone@naver.com,S\n"
    second_file = write_campaign(tmp_path, 0, name="b", extra=SHARED, csv_text=other_list)
    second = await submit_file(redis, second_file, START + 2 * HOUR)
    await events.emit(redis, START + 3 * HOUR, "day_advanced", "", "s-id0", mark="both")
    await events.emit(redis, START + 4 * HOUR, "identity_stopped_today", second, "s-id0", mark="b-stopped-it")
    await events.emit(redis, START + 4 * HOUR, "send_retry", second, "s-id0", mark="b-own")
    await redis.hset(keys.campaign(first), mapping={"state": "completed", "changed_at": repr(START + 5 * HOUR)})
    await events.emit(redis, START + 6 * HOUR, "day_advanced", "", "s-id0", mark="b-only")
    await events.emit(redis, START + 6 * HOUR, "day_advanced", "", "other-id", mark="neither")

    of_first = [m for _, m in await _logged(redis_url, first) if m]
    of_second = [m for _, m in await _logged(redis_url, second) if m]
    assert of_first == ["a-only", "both", "b-stopped-it"]
    assert of_second == ["both", "b-stopped-it", "b-own", "b-only"]


async def test_watch_finds_the_campaigns_last_events_behind_other_campaigns_busy_stream(
    redis: Redis, tmp_path: Path
) -> None:
    """`watch` starts from the campaign's last events, however many of other campaigns came after them
    (it read only the newest 2,000 entries: "(nothing yet)")."""
    cid = await submit_file(redis, write_campaign(tmp_path, 3, name="a", extra=SHARED), START)
    for n in range(3):
        await events.emit(redis, START + n, "send_retry", cid, "s-id0", mark=f"own-{n}")
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(12_000):
            pipe.xadd(
                keys.EVENTS, {"t": repr(START + 10 + n), "type": "send_retry", "campaign": "other", "identity": ""}
            )
        await pipe.execute()
    feed = _Feed(await log_scope(redis, cid))
    await feed.read(redis)
    assert [line.rsplit("mark=", 1)[-1] for line in feed.recent if "mark=" in line] == ["own-0", "own-1", "own-2"]
    await events.emit(redis, START + 20_000, "guardrail_warning", cid, "s-id0", mark="warned")
    await feed.read(redis)  # then what comes next
    assert feed.recent[-1].endswith("mark=warned")
    assert feed.warnings[-1].endswith("mark=warned")


async def test_a_campaigns_log_starts_after_the_events_before_its_submit(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """`logs` reads the shared stream from the campaign's submit on, not from its start (which may hold a
    million older events: seconds to read and parse), and shows the same lines; a campaign submitted by an
    earlier release (no `events_after`) is read from the start."""
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(3000):
            pipe.xadd(keys.EVENTS, {"t": repr(START - 10 + n / 1000), "type": "send_retry", "campaign": "old"})
        await pipe.execute()
    before = await events.newest_id(redis)
    cid = await submit_file(redis, write_campaign(tmp_path, 3, name="a", extra=SHARED), START)
    day = await events.emit(redis, START + HOUR, "day_advanced", "", "s-id0", mark="its-day")
    await events.emit(redis, START + HOUR, "send_retry", cid, "s-id0", mark="its-own")
    start = await redis.hget(keys.campaign(cid), "events_after")
    assert start == before
    assert len(await events.read(redis, after=str(start), count=10_000)) == 3  # none of the 3,000 before it
    expected = [("campaign_submitted", ""), ("day_advanced", "its-day"), ("send_retry", "its-own")]
    assert await _logged(redis_url, cid) == expected
    await redis.hset(keys.campaign(cid), "events_after", day)  # it is where the reading starts
    assert await _logged(redis_url, cid) == expected[2:]
    await redis.hdel(keys.campaign(cid), "events_after")
    assert await _logged(redis_url, cid) == expected
