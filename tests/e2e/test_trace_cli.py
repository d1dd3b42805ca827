"""`orchestrate trace` and `export` as processes, after a run of the real worker, pacer and web process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import redis as redis_sync

from tests.e2e.procs import Procs, base_env, cli, cli_json, free_port, send_log, wait_for
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

FAST_PLAN = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 7200}]}, "shaping": {"max_domain_share": 1.0}}
CALLBACK = "trace-callback-token-0123456789"
BLOCKED = "blocked@example.org"
ROWS = [f"user{i}@gmail.com,N{i}" for i in range(8)] + [f"{BLOCKED},B", "\x1b[31mred@x.com,Evil", "user0@gmail.com,Dup"]
CSV = "email,first_name\n" + "\n".join(ROWS) + "\n"


def _delivered(db: redis_sync.Redis) -> list[str]:
    """MessageIds the web process recorded a delivered event for."""
    return [k.removeprefix("wo:fb:m:") for k in db.scan_iter("wo:fb:m:*") if db.hexists(k, "u:delivered")]


def test_trace_and_export_after_a_real_run(
    procs: Procs, db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Accepted: MessageId and delivery; blocklisted: release command; unknown: exit 1; export: every row."""
    web_port = free_port()
    procs.web(base_env(redis_server.url, 0, CALLBACK_TOKEN=CALLBACK), web_port)  # first: the callbacks need it up
    port = free_port()
    env = base_env(redis_server.url, port, CALLBACK_TOKEN=CALLBACK)
    world = tmp_path / "world.yaml"
    world.write_text(
        "permissive: true\naccounts: [{name: default, secret_id: emulator-id, secret_key: emulator-key}]\n"
        f"blocklist: [{BLOCKED}]\ncallback_url: http://127.0.0.1:{web_port}/callbacks/tencent/{CALLBACK}\n",
        encoding="utf-8",
    )
    log_path = tmp_path / "sends.jsonl"
    procs.emulator(env, port, log_path, world)
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=CSV)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    procs.worker(env)
    procs.pacer(env)
    wait_for(lambda: db.hget(f"wo:campaign:{cid}", "state") == "completed", 90, "the campaign to complete")
    wait_for(lambda: bool(_delivered(db)), 60, "a delivered event through the web process")

    sent = {str(s["to_address"]): str(s["message_id"]) for s in send_log(log_path)}
    delivered = _delivered(db)[0]
    address = next(a for a, m in sent.items() if m == delivered)
    out = cli(env, "trace", address)
    assert out.returncode == 0, out.stderr
    assert f"MessageId {delivered}" in out.stdout
    assert "event delivered at" in out.stdout
    assert "why: accepted by Tencent at" in out.stdout

    blocked = cli_json(env, "trace", BLOCKED, "--json")
    assert isinstance(blocked, dict)
    assert blocked["verdict"]["fix"] == f"if the address is right: orchestrate blocklist release {BLOCKED}"

    evil = cli(env, "trace", "\x1b[31mred@x.com")
    assert evil.returncode == 0, evil.stderr
    assert "\x1b" not in evil.stdout
    assert "\\x1b[31mred@x.com" in evil.stdout

    unknown = cli(env, "trace", "nobody@example.com")
    assert unknown.returncode == 1
    assert "no campaign had this address" in unknown.stdout

    target = tmp_path / "export.csv"
    done = cli(env, "export", cid, "--out", str(target))
    assert done.returncode == 0, done.stderr
    with target.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(ROWS)
    assert [r["row"] for r in rows] == [str(n) for n in range(1, len(ROWS) + 1)]
    assert {r["email"]: r["message_id"] for r in rows if r["state"] == "accepted"} == sent
    assert [r["state"] for r in rows[-3:]] == ["suppressed", "invalid", "duplicate"]
    lines = cli(env, "export", cid, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["row"] for line in lines] == list(range(1, len(ROWS) + 1))


def test_trace_export_and_status_after_the_pacer_compacted_the_campaign(
    procs: Procs, db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """COMPLETED_RETENTION_DAYS=0: the pacer's sweeper compacts the completed campaign; the commands say so."""
    port = free_port()
    env = base_env(redis_server.url, port, COMPLETED_RETENTION_DAYS="0")
    world = tmp_path / "world.yaml"
    world.write_text(
        "permissive: true\naccounts: [{name: default, secret_id: emulator-id, secret_key: emulator-key}]\n"
        f"blocklist: [{BLOCKED}]\n",
        encoding="utf-8",
    )
    procs.emulator(env, port, tmp_path / "sends.jsonl", world)
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=CSV)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    procs.worker(env)
    procs.pacer(env)
    wait_for(lambda: db.hget(f"wo:campaign:{cid}", "compacted_at") is not None, 90, "the campaign to be compacted")
    assert list(db.scan_iter(f"wo:c:{cid}:*")) == [f"wo:c:{cid}:counts"]

    traced = cli(env, "trace", "user1@gmail.com")
    assert traced.returncode == 1, traced.stderr
    assert "no campaign had this address" not in traced.stdout  # it may have been in the compacted one
    assert "user1@gmail.com: not in any campaign that still keeps its rows" in traced.stdout
    assert f"not searched: campaign {cid} (t, completed): per-recipient data compacted on" in traced.stdout
    assert "accepted 8" in traced.stdout
    exported = cli(env, "export", cid)
    assert exported.returncode == 1
    assert "Traceback" not in exported.stderr
    assert "its rows cannot be exported" in exported.stderr
    assert exported.stdout == ""  # not a header that `> results.csv` would keep as an empty export
    status = cli_json(env, "status", cid, "--json")
    assert isinstance(status, dict)
    assert status["compacted_at"]
    assert status["progress"]["accepted"] == 8


def test_compact_command_refuses_a_running_campaign_and_compacts_a_cancelled_one(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`compact` before the retention: refused while the campaign may still send; done at once once cancelled."""
    env = base_env(redis_server.url, free_port())
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=CSV)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    refused = cli(env, "compact", cid)
    assert refused.returncode == 1
    assert f"campaign {cid} is running: only a completed or cancelled campaign can be compacted" in refused.stderr
    assert db.exists(f"wo:c:{cid}:q")
    assert cli(env, "cancel", cid).returncode == 0
    done = cli(env, "compact", cid)
    assert done.returncode == 0, done.stderr
    assert f"campaign {cid} compacted (" in done.stdout
    assert "per-recipient data compacted on" in done.stdout
    assert list(db.scan_iter(f"wo:c:{cid}:*")) == [f"wo:c:{cid}:counts"]
    again = cli_json(env, "compact", cid, "--json")
    assert isinstance(again, dict)
    assert (again["already"], again["keys_removed"], again["state"]) == (True, 0, "cancelled")
