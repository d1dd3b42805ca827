"""A Redis that loses its data under a running pacer: the pacer says so, and submit refuses to mail the
lost campaign's recipients again until the operator says the mailed ones are out of the list. A loss
while no pacer runs: submit sees it from what this host remembers (state_folder.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.core.clock import SystemClock
from orchestrator.settings import Settings
from orchestrator.state_folder import BOOK_NAME, redis_address, remember, remembered, state_dir
from orchestrator.store import campaigns, instance, keys
from tests.pipeline_helpers import write_campaign
from workers.pacer import build_pacer, run_pacer


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


async def test_a_pacer_notes_redis_emptied_and_submit_refuses_until_told(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """FLUSHALL (what a restart without an append-only file amounts to) under a running pacer: it logs
    redis_data_lost and leaves the note; submit then exits 1 naming the loss and writes nothing; with
    --after-data-loss it submits and the note is gone; status warns while the note stands."""
    stop = asyncio.Event()
    pacer = build_pacer(redis, SystemClock())
    with structlog.testing.capture_logs() as logs:
        running = asyncio.create_task(run_pacer(pacer, interval_s=0.02, sweep_every_s=0.02, stop=stop))

        async def marked() -> bool:
            return await redis.get(keys.INSTANCE) is not None

        await _until(marked)
        await asyncio.sleep(0.1)  # a sweep or two with the marker standing: no loss
        assert await instance.loss(redis) is None
        await redis.flushall()

        async def noted() -> bool:
            return await instance.loss(redis) is not None

        await _until(noted)
        stop.set()
        await running
    assert len([e for e in logs if e["event"] == "redis_data_lost"]) == 1
    env = {"REDIS_URL": redis_url}
    campaign = write_campaign(tmp_path, 10)
    refused = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(campaign)], env=env)
    assert refused.exit_code == 1
    assert "error: Redis lost its data at " in refused.output
    assert "--after-data-loss" in refused.output
    assert await campaigns.all_ids(redis) == []
    status = await asyncio.to_thread(CliRunner().invoke, main, ["status"], env=env)
    assert "warning: Redis lost its data at " in status.output
    # What the other commands read there (no campaign had the address, empty lists) comes with the same warning.
    for args in (["trace", "user1@gmail.com"], ["suppress", "list"], ["suppress", "export"], ["blocklist", "list"]):
        out = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
        assert "warning: Redis lost its data at " in out.output, args
    done = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(campaign), "--after-data-loss"], env=env)
    assert done.exit_code == 0, done.output
    assert len(await campaigns.all_ids(redis)) == 1
    assert await instance.loss(redis) is None
    status = await asyncio.to_thread(CliRunner().invoke, main, ["status"], env=env)
    assert "lost its data" not in status.output


async def test_a_pacer_that_starts_on_a_marked_redis_sees_no_loss(redis: Redis) -> None:
    """The marker stands across pacers (and a restart with its append-only file): nothing is noted."""
    await instance.mark(redis, 1.0)
    first = await redis.get(keys.INSTANCE)
    watch = instance.InstanceWatch(redis)
    await watch.start(2.0)
    assert await watch.check(3.0) is None
    assert await redis.get(keys.INSTANCE) == first
    assert await instance.loss(redis) is None


async def test_a_loss_while_no_pacer_runs_is_seen_by_the_next_submit_from_this_host(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """No pacer ever runs: submit, FLUSHALL, submit again refuses (exit 1, nothing written, no password in the
    book); a pacer that started on the emptied Redis (a fresh marker) does not hide it; --after-data-loss
    submits and remembers the new marker, after which submit goes on as usual."""
    env = {"REDIS_URL": redis_url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_campaign(tmp_path / "a", 10)
    done = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(first)], env=env)
    assert done.exit_code == 0, done.output
    marker = await instance.current(redis)
    seen = remembered(Settings(), redis_url)
    assert seen is not None
    assert seen.instance == marker

    await redis.flushall()  # a restart without an append-only file
    await instance.mark(redis, 5.0)  # and a pacer started on it since: a fresh marker, no note
    second = write_campaign(tmp_path / "b", 10)
    refused = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(second)], env=env)
    assert refused.exit_code == 1, refused.output
    assert f"error: the Redis at {redis_address(redis_url)} held this orchestrator's campaigns" in refused.output
    assert f"marker {marker}" in refused.output
    assert "now holds another one" in refused.output
    assert "--after-data-loss" in refused.output
    assert await campaigns.all_ids(redis) == []

    done = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(second), "--after-data-loss"], env=env)
    assert done.exit_code == 0, done.output
    assert len(await campaigns.all_ids(redis)) == 1
    again = await asyncio.to_thread(CliRunner().invoke, main, ["submit", str(first)], env=env)
    assert again.exit_code == 0, again.output  # the same files: named as the campaign already made
    assert "held this orchestrator's campaigns" not in again.output


async def test_a_damaged_book_warns_and_is_left_for_the_operator(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """An unreadable book is a warning naming it, not a refusal, and is left as it is (the other addresses'
    entries are in it); once removed, the next submit writes a good one. The book is keyed by host, port and
    database only: never a user or a password."""
    env = {"REDIS_URL": redis_url}
    book = state_dir(Settings()) / BOOK_NAME
    book.parent.mkdir(parents=True, exist_ok=True)
    book.write_bytes(b"\x00not json")
    (tmp_path / "a").mkdir()
    done = await asyncio.to_thread(
        CliRunner().invoke, main, ["submit", str(write_campaign(tmp_path / "a", 5))], env=env
    )
    assert done.exit_code == 0, done.output
    assert f"warning: {book}: not the JSON `orchestrate submit` writes" in done.output
    assert book.read_bytes() == b"\x00not json"
    book.unlink()
    (tmp_path / "b").mkdir()
    again = await asyncio.to_thread(
        CliRunner().invoke, main, ["submit", str(write_campaign(tmp_path / "b", 5))], env=env
    )
    assert again.exit_code == 0, again.output
    seen = remembered(Settings(), redis_url)
    assert seen is not None
    assert seen.instance == await instance.current(redis)
    assert redis_address("redis://user:s3cret@Example.COM:6380/2") == "example.com:6380/2"
    assert redis_address("rediss://:s3cret@[::1]:7000") == "::1:7000/0"
    assert redis_address("unix:///run/redis.sock?db=3") == "unix:/run/redis.sock/3"


def test_submits_at_once_keep_every_entry_of_the_book() -> None:
    """Twenty writers at once, each for another Redis address: the lock keeps all twenty (without it, the
    read-change-write of one dropped the others' entries)."""
    settings = Settings()
    urls = [f"redis://127.0.0.1:{7000 + k}/0" for k in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda u: remember(settings, u, f"m-{u[-6:]}", 1.0), urls))
    for u in urls:
        seen = remembered(settings, u)
        assert seen is not None
        assert seen.instance == f"m-{u[-6:]}"


def test_the_state_folder_is_made_for_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder holds the embedded Redis's append-only file and the local emulator's send log (recipients'
    addresses): made by `submit`'s book or by `up`, other users of the host cannot list or read it."""
    from orchestrator.up import _prepared_state_dir

    for who, made in (
        ("submit", lambda s: remember(s, "redis://127.0.0.1:7000/0", "m", 1.0)),
        ("up", _prepared_state_dir),
    ):
        folder = tmp_path / who / "state"
        monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(folder))
        made(Settings())
        assert folder.stat().st_mode & 0o777 == 0o700, who
