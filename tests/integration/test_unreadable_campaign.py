"""One stored campaign that cannot be read never stops the others: status, the pacer and workers skip it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from orchestrator.core.clock import VirtualClock
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import run_emulator
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.store import campaigns, keys
from orchestrator.store.ledger import Ledger
from orchestrator.submit import submit
from tests.e2e.procs import Procs, base_env, cli, free_port, wait_for
from tests.pipeline_harness import FAST, arq_idle, make_world, settings_for
from tests.pipeline_helpers import load, write_campaign
from workers.pacer import build_pacer

pytestmark = [
    # The SDK's own datetime.utcfromtimestamp is deprecated from Python 3.12 on; not ours to fix.
    pytest.mark.filterwarnings("ignore:datetime.datetime.utcfromtimestamp:DeprecationWarning"),
]

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def _null_max_delay(meta: dict[str, str]) -> dict[str, str]:
    spec = json.loads(meta["spec"])
    spec["retry"]["max_delay_s"] = None
    return {"spec": json.dumps(spec)}


#: (how the stored record is damaged, what the reason says)
CORRUPTIONS = [
    pytest.param(_null_max_delay, "retry.max_delay_s", id="max-delay-null"),
    pytest.param(lambda m: {"spec": m["spec"][: len(m["spec"]) // 2]}, "Invalid JSON", id="invalid-json"),
    pytest.param(lambda m: {"spec": None}, "no stored spec", id="no-spec"),
    pytest.param(lambda m: {"state": "exploded"}, "unknown state", id="unknown-state"),
    pytest.param(lambda m: {"created_at": "yesterday"}, "stored counts or submit data", id="bad-number"),
]


async def _submit(redis: Redis, tmp_path: Path, name: str, n: int) -> str:
    folder = tmp_path / name
    folder.mkdir()
    own = {"identities": [{"id": f"{name}-id0", "from": f"News <news@{name}.example.com>"}]}  # a domain each
    path = write_campaign(folder, n, name=name, identities=1, extra=FAST | own)
    campaign, fp = load(path)
    return (await submit(redis, campaign, fp, START, str(path), force_new=True)).campaign_id  # one list, twice


async def _corrupt(redis: Redis, cid: str, damage: object) -> None:
    meta = await redis.hgetall(keys.campaign(cid))
    changes = damage(meta)  # type: ignore[operator]
    for field, value in changes.items():
        if value is None:
            await redis.hdel(keys.campaign(cid), field)
        else:
            await redis.hset(keys.campaign(cid), field, value)


@pytest.mark.parametrize(("damage", "reason"), CORRUPTIONS)
async def test_status_lists_an_unreadable_campaign_with_its_reason(
    redis: Redis, redis_url: str, tmp_path: Path, damage: object, reason: str
) -> None:
    """`status`, `status --json` and `status ID` show the damaged campaign as unreadable and why, and list the other."""
    good = await _submit(redis, tmp_path, "good", 5)
    bad = await _submit(redis, tmp_path, "bad", 5)
    await _corrupt(redis, bad, damage)
    env = base_env(redis_url, free_port())

    listed = cli(env, "status", "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {c["id"]: c for c in json.loads(listed.stdout)}
    assert by_id[good]["state"] == "running"
    assert by_id[bad]["state"] == "unreadable"
    assert reason in by_id[bad]["reason"]
    assert len(by_id[bad]["reason"]) <= campaigns.REASON_MAX_CHARS

    text = cli(env, "status")
    assert text.returncode == 0, text.stderr
    assert f"[{good}] running" in text.stdout
    assert f"[{bad}] unreadable" in text.stdout
    assert reason in text.stdout

    one = cli(env, "status", bad)
    assert one.returncode == 1
    assert "unreadable" in one.stdout
    assert reason in one.stdout
    one_json = cli(env, "status", bad, "--json")
    assert (one_json.returncode, json.loads(one_json.stdout)["state"]) == (1, "unreadable")

    paused = cli(env, "pause", bad)
    assert paused.returncode != 0
    assert paused.stderr.startswith(f"error: campaign {bad} ")
    assert paused.stderr.count("\n") == 1
    for out in (listed, text, one, one_json, paused):
        assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.parametrize("value", ["nan", "-5e12", "abc", "1e999"])
async def test_a_damaged_compaction_time_shows_that_campaign_unreadable_not_every_status_broken(
    redis: Redis, redis_url: str, tmp_path: Path, value: str
) -> None:
    """compacted_at was read after the rest and turned into a date unchecked: one bad value made `status`,
    the live page and /metrics fail for every campaign (a traceback). Now that campaign alone is unreadable."""
    good = await _submit(redis, tmp_path, "good", 5)
    bad = await _submit(redis, tmp_path, "bad", 5)
    await redis.hset(keys.campaign(bad), "compacted_at", value)
    env = base_env(redis_url, free_port())
    listed = cli(env, "status", "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {c["id"]: c for c in json.loads(listed.stdout)}
    assert by_id[good]["state"] == "running"
    assert (by_id[bad]["state"], by_id[bad]["reason"]) == ("unreadable", "stored compaction time is not a time")
    text = cli(env, "status")
    assert (text.returncode, text.stderr) == (0, "")
    assert f"[{bad}] unreadable" in text.stdout


async def test_pipeline_skips_an_unreadable_campaign_and_completes_the_other(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """With one campaign's spec damaged, the pacer warns once, grants the other, and it completes on the emulator."""
    good = await _submit(redis, tmp_path, "good", 12)
    bad = await _submit(redis, tmp_path, "bad", 7)
    await _corrupt(redis, bad, _null_max_delay)
    clock = VirtualClock(START)
    with capture_logs() as logged:
        async with (
            run_emulator(make_world(["good.example.com", "bad.example.com"]), clock=clock) as emu,
            TencentSender(settings_for(emu)) as sender,
            VirtualRun(redis_url, clock, sender, workers=2) as run,
        ):
            await run.run_until(START + 3600)
            sent = Counter(r.to_address for r in emu.send_log)
    good_rec = await campaigns.get(redis, good)
    assert good_rec is not None
    assert good_rec.state.value == "completed"
    assert good_rec.counts["accepted"] == 12
    assert len(sent) == 12
    assert set(sent.values()) == {1}
    assert all("@" in a for a in sent)
    bad_counts = await Ledger(redis).counts(keys.CampaignKeys(bad))
    assert (bad_counts["queued"], bad_counts["granted"], bad_counts["failed"]) == (7, 0, 0)
    assert await redis.hget(keys.campaign(bad), "state") == "running"  # untouched, not failed or completed
    warnings = [e for e in logged if e["event"] == "campaign_unreadable"]
    assert len(warnings) == 1
    assert warnings[0]["campaign"] == bad
    assert "retry.max_delay_s" in warnings[0]["reason"]


async def test_worker_leaves_the_recipient_of_an_unreadable_campaign_untouched(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    """A send job whose campaign became unreadable after its grant neither sends, fails nor loses the recipient."""
    bad = await _submit(redis, tmp_path, "bad", 3)
    report = await build_pacer(redis, VirtualClock(START)).tick()  # grants and enqueues jobs
    assert report.granted >= 1
    await _corrupt(redis, bad, _null_max_delay)
    procs = Procs(tmp_path)
    port = free_port()
    try:
        procs.worker(base_env(redis_url, port))  # a fresh process: nothing of the spec is cached
        wait_for(lambda: "campaign_unreadable" in (tmp_path / "worker.log").read_text(), 30, "the worker's warning")
        wait_for(lambda: arq_idle(redis_url), 30, "the worker to run every job")
    finally:
        procs.stop_all()
    counts = await Ledger(redis).counts(keys.CampaignKeys(bad))
    assert (counts["granted"], counts["queued"], counts["failed"], counts["accepted"]) == (
        report.granted,
        3 - report.granted,
        0,
        0,
    )
    log_text = (tmp_path / "worker.log").read_text()
    assert log_text.count('"campaign_unreadable"') == 1
    assert "Traceback" not in log_text
