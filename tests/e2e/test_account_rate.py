"""Tencent's rate where Tencent counts it: several workers, the pacer, a killed worker and a Redis restart."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from tests.e2e.procs import Procs, base_env, cli, cli_json, free_port, send_log, wait_for
from tests.pipeline_helpers import max_in_rolling_window, write_campaign
from tests.redis_server import RedisServer, find_redis_server

pytestmark = pytest.mark.slow

RECIPIENTS = 480
ACCOUNT_RATE = 18  # of the emulator's (and Tencent's) 20 calls/s
#: Tencent's own limit. The budget books slots at 18/s; a call leaves a few milliseconds after its slot,
#: and a process starved of CPU (a loaded CI machine) can release two booked calls late into the next
#: second: the 2-call headroom is there for that (one run measured 19), so the provider-side bound is 20.
TENCENT_RATE = 20
#: Two identities that could send 20/s together: the account's budget (16 SendEmail/s) binds, not the plan.
PLAN = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 36000}]}, "shaping": {"max_domain_share": 1.0}}
WORLD = """\
permissive: true
accounts: [{name: default, secret_id: emulator-id, secret_key: emulator-key}]
account_rate_per_s: 20
per_address_per_hour: null
latency: {min_ms: 5, max_ms: 60}
faults:
  - {code: timeout_after_accept, rate: 0.03, hang_s: 4}
"""


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, since the test kills and restarts it."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary")
    server = RedisServer(binary, free_port(), tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    yield server
    server.stop()


def _calls(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_account_rate_holds_at_the_provider_through_a_killed_worker_and_a_redis_restart(
    procs: Procs, own_redis: RedisServer, tmp_path: Path
) -> None:
    """Three workers and the pacer against the emulator's 20/s: no rolling second above 20 calls, no throttle,
    every recipient sent once, every in-doubt send settled within 60 s of the last send, campaign completed."""
    port = free_port()
    env = base_env(
        own_redis.url,
        port,
        ACCOUNT_RATE_PER_S=str(ACCOUNT_RATE),
        ACCOUNT_WAIT_MAX_S="5",
        WORKER_CONCURRENCY="20",
        SES_TIMEOUT_S="2",
        JOB_TIMEOUT_S="10",
        LEASE_S="12",
        RECONCILE_AFTER_S="5",
        SWEEP_INTERVAL_S="1",
    )
    world = tmp_path / "world.yaml"
    world.write_text(WORLD, encoding="utf-8")
    sends_path, calls_path = tmp_path / "sends.jsonl", tmp_path / "calls.jsonl"
    procs.ranked().emulator(env, port, sends_path, world, call_log=calls_path)
    path = write_campaign(tmp_path, RECIPIENTS, identities=2, extra=PLAN)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    db = redis_sync.Redis.from_url(own_redis.url, decode_responses=True)

    workers = [procs.worker(env, f"worker-{k}") for k in range(3)]
    procs.pacer(env)
    wait_for(lambda: len(send_log(sends_path)) >= RECIPIENTS // 4, 60, "a quarter of the sends")
    workers[0].send_signal(signal.SIGKILL)  # mid-send: its leases expire into doubt
    workers[0].wait()
    wait_for(lambda: len(send_log(sends_path)) >= RECIPIENTS // 2, 60, "half of the sends")
    own_redis.restart()  # SIGKILL and start on the same AOF
    procs.worker(env, "worker-3")

    def done() -> bool:
        try:
            return db.hget(f"wo:campaign:{cid}", "state") == "completed"
        except redis_sync.ConnectionError:
            return False

    wait_for(done, 240, "the campaign to complete")
    db.close()

    sends = send_log(sends_path)
    to = [str(s["to_address"]) for s in sends]
    assert len(to) == RECIPIENTS, "every recipient was sent"
    assert len(set(to)) == RECIPIENTS, "and none twice"

    calls = [c for c in _calls(calls_path) if c["account"] == "default"]
    assert {c["action"] for c in calls} >= {"SendEmail", "GetSendEmailStatus"}
    throttled = [c for c in calls if str(c["error"] or "").startswith("RequestLimitExceeded")]
    assert throttled == [], "the emulator never had to throttle"
    times = [float(str(c["time"])) for c in calls]
    worst = max_in_rolling_window(times, 1.0)
    assert worst <= TENCENT_RATE, f"every rolling second at the provider within Tencent's rate (worst {worst})"
    # Late calls only move within the headroom: over five seconds, the budget's 18/s holds to a call or two.
    worst5 = max_in_rolling_window(times, 5.0)
    print(f"worst rolling second {worst} calls, worst five seconds {worst5}")
    assert worst5 <= 5 * ACCOUNT_RATE + 2, f"the budget's rate held over every five seconds (worst {worst5})"

    events = [json.loads(line) for line in cli(env, "logs", cid, "--json").stdout.splitlines() if line.strip()]
    parked = [e for e in events if e["type"] == "send_in_doubt"]
    resolved = [e for e in events if e["type"] == "in_doubt_resolved"]
    assert parked, "some sends were in doubt (timeouts after accept, the killed worker)"
    assert len(resolved) >= len(parked)
    last_send = max(float(str(c["time"])) for c in calls if c["action"] == "SendEmail")
    assert max(float(e["t"]) for e in resolved) <= last_send + 60, "every doubt settled within 60 s of the last send"
    status = cli_json(env, "status", cid, "--json")
    assert isinstance(status, dict)
    assert status["state"] == "completed"
