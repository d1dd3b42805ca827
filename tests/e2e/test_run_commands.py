"""The real commands as processes: submit, the Procfile's worker and pacer, pause, resume, status."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis as redis_sync

from tests.e2e.procs import Procs, base_env, cli, cli_json, free_port, send_log, wait_for
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

# 2 sends a second per identity: slow enough to pause mid-run, fast enough for a test.
FAST_PLAN = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 7200}]}, "shaping": {"max_domain_share": 1.0}}


def _counts(db: redis_sync.Redis, cid: str) -> dict[str, int]:
    return {k: int(v) for k, v in db.hgetall(f"wo:c:{cid}:counts").items()}


def test_pause_resume_end_to_end(procs: Procs, db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path) -> None:
    """Pause stops new sends within 2 s; resume completes; the emulator saw each recipient once."""
    port = free_port()
    env = base_env(redis_server.url, port)
    log_path = tmp_path / "sends.jsonl"
    procs.emulator(env, port, log_path)
    path = write_campaign(tmp_path, 40, identities=1, extra=FAST_PLAN)
    submitted = cli_json(env, "submit", str(path), "--json")
    assert isinstance(submitted, dict)
    cid = str(submitted["campaign_id"])
    assert submitted["valid"] == 40
    procs.worker(env)
    procs.pacer(env)
    wait_for(lambda: len(send_log(log_path)) >= 5, 30, "the first sends")

    out = cli(env, "pause", cid, "--wait", "5")
    assert out.returncode == 0, out.stderr
    paused_at = time.monotonic()
    time.sleep(2.0)
    settled = len(send_log(log_path))  # anything in flight has finished within 2 s
    time.sleep(2.0)
    assert len(send_log(log_path)) == settled, "no new send starts while paused"
    status = cli_json(env, "status", cid, "--json")
    assert isinstance(status, dict)
    assert status["state"] == "paused"
    assert time.monotonic() - paused_at < 10
    assert settled < 40

    out = cli(env, "resume", cid)
    assert out.returncode == 0, out.stderr
    assert "warm-up day" in out.stdout
    wait_for(lambda: _counts(db, cid).get("accepted", 0) == 40, 60, "every recipient accepted")
    wait_for(lambda: cli_json(env, "status", cid, "--json")["state"] == "completed", 15, "completion")  # type: ignore[index]
    sends = send_log(log_path)
    to = [s["to_address"] for s in sends]
    assert len(to) == 40
    assert len(set(to)) == 40
    logs = cli(env, "logs", cid, "--json")
    assert '"campaign_paused"' in logs.stdout
    assert '"campaign_resumed"' in logs.stdout


def test_sigkill_worker_loses_nothing_sends_nothing_twice(
    procs: Procs, db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A worker killed mid-send: its recipient is parked in doubt, reconciled, never sent twice."""
    port = free_port()
    world = tmp_path / "world.yaml"
    world.write_text(
        "permissive: true\naccounts: [{name: default, secret_id: emulator-id, secret_key: emulator-key}]\n"
        "latency: {min_ms: 400, max_ms: 600}\n",
        encoding="utf-8",
    )
    env = base_env(redis_server.url, port, JOB_TIMEOUT_S="5", LEASE_S="6", SES_TIMEOUT_S="3", ACCOUNT_WAIT_MAX_S="1")
    log_path = tmp_path / "sends.jsonl"
    procs.emulator(env, port, log_path, world)
    path = write_campaign(tmp_path, 30, identities=1, extra=FAST_PLAN)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    victim = procs.worker(env, "worker-1")
    procs.pacer(env)
    wait_for(lambda: _counts(db, cid).get("inflight", 0) >= 1 and len(send_log(log_path)) >= 3, 30, "a send in flight")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    procs.worker(env, "worker-2")
    wait_for(
        lambda: (c := _counts(db, cid)).get("accepted", 0) + c.get("in_doubt", 0) == 30 and not c.get("inflight"),
        90,
        "every recipient finished",
    )
    sends = send_log(log_path)
    to = [s["to_address"] for s in sends]
    assert len(to) == len(set(to)), "no recipient was sent twice"
    c = _counts(db, cid)
    assert c.get("accepted", 0) == len(to)
    events = cli(env, "logs", cid, "--json").stdout
    assert '"send_in_doubt"' in events, "the killed send was parked in doubt"
    assert '"in_doubt_resolved"' in events, "and reconciled against the provider's status"
