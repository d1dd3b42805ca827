"""`orchestrate trace` and `export` as processes, after a run of the real worker, pacer and web process."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_sync

from orchestrator.core.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED
from tests.e2e.procs import BIN, Procs, base_env, cli, cli_json, free_port, send_log, wait_for
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

FAST_PLAN = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 7200}]}, "shaping": {"max_domain_share": 1.0}}
CALLBACK = "trace-callback-token-0123456789"
BLOCKED = "blocked@example.org"
#: Rows of the campaign whose export a signal stops: enough for the export to take a while.
EXPORT_ROWS = 100_000
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
    """COMPLETED_RETENTION_DAYS=0: the pacer's sweeper compacts the completed campaign once its mail is 8 days
    old (its MessageIds count that long; here its end is moved back); the commands say so."""
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
    meta = f"wo:campaign:{cid}"
    wait_for(lambda: db.hget(meta, "state") == "completed", 90, "the campaign to complete")
    refused = cli(env, "compact", cid)
    assert refused.returncode == 1
    assert f"campaign {cid} sent mail: its MessageIds are kept until 20" in refused.stderr
    assert ", 8 days after it finished (its late bounces" in refused.stderr
    time.sleep(2.5)  # a few of the pacer's sweeps: retention 0, yet not compacted
    assert db.hget(meta, "compacted_at") is None
    assert len(list(db.scan_iter(f"wo:c:{cid}:*"))) > 1  # the ledger and the rest still there
    db.hset(meta, "changed_at", repr(float(db.hget(meta, "changed_at")) - 8 * 86400))
    wait_for(lambda: db.hget(meta, "compacted_at") is not None, 90, "the campaign to be compacted")
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


def test_export_refuses_to_write_over_the_campaigns_recipient_file(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`--out` naming the campaign's own list, by any name: one line naming it, exit 2, the list untouched."""
    env = base_env(redis_server.url, free_port())
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=CSV)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    recipients = tmp_path / "t.csv"
    (tmp_path / "link.csv").symlink_to(recipients)
    os.link(recipients, tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    before = sorted(os.listdir(tmp_path))
    for out in (recipients, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "sub" / ".." / "t.csv"):
        refused = cli(env, "export", cid, "--out", str(out))
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.splitlines() == [
            f"error: cannot write {out}: it is the campaign's recipient file: write the export elsewhere"
        ]
        assert recipients.read_text(encoding="utf-8") == CSV
        assert sorted(os.listdir(tmp_path)) == before  # no temporary file either
    done = cli(env, "export", cid, "--out", str(tmp_path / "results.csv"))
    assert (done.returncode, done.stderr.strip()) == (0, f"{len(ROWS)} rows written to {tmp_path / 'results.csv'}")


def test_export_out_dash_is_stdout_and_an_empty_or_device_out_is_refused(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`--out -` writes to standard output (it made a file named "-"); `--out ''` is refused naming it (it was
    taken as "." and refused as a folder); `--out /dev/stdout` on a pipe is refused with the way to stdout (it
    said "No such file or directory"). Nothing is left in the folder."""
    env = base_env(redis_server.url, free_port())
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=CSV)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    before = sorted(os.listdir(tmp_path))
    plain = cli(env, "export", cid)
    dash = cli(env, "export", cid, "--out", "-", cwd=tmp_path)
    assert dash.returncode == 0, dash.stderr
    assert dash.stdout == plain.stdout
    assert len(dash.stdout.splitlines()) == len(ROWS) + 1  # the header
    empty = cli(env, "export", cid, "--out", "")
    assert empty.returncode == 2
    assert "an empty path" in empty.stderr
    device = cli(env, "export", cid, "--out", "/dev/stdout")  # stdout is a pipe here
    assert device.returncode == 2, device.stderr
    assert "cannot write /dev/stdout: it exists and is not a regular file" in device.stderr
    assert "give --out -" in device.stderr
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize(
    ("sig", "code", "how"),
    [
        pytest.param(signal.SIGTERM, EXIT_TERMINATED, "terminated", id="sigterm"),
        pytest.param(signal.SIGINT, EXIT_INTERRUPTED, "interrupted", id="ctrl-c"),
    ],
)
def test_export_stopped_by_a_signal_removes_its_temporary_file(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path, sig: signal.Signals, code: int, how: str
) -> None:
    """SIGTERM as Ctrl-C: the half-written `.FILE.*.part` is removed, FILE left as it was, one line, 143 or 130."""
    env = base_env(redis_server.url, free_port())
    rows = "email,first_name\n" + "".join(f"user{i}@gmail.com,N{i}\n" for i in range(EXPORT_ROWS))
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=rows)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    target = tmp_path / "results.csv"
    target.write_text("the previous export\n", encoding="utf-8")
    argv = [str(BIN / "orchestrate"), "export", cid, "--out", str(target)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        parts: list[Path] = []
        deadline = time.monotonic() + 60
        while not parts and proc.poll() is None and time.monotonic() < deadline:
            parts = list(tmp_path.glob(".results.csv.*.part"))
            time.sleep(0.01)
        assert parts, "the export never started its temporary file"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "t.csv", "t.yaml"]  # no `.part` left
    assert proc.returncode == code, err[-2000:]
    assert err.splitlines() == [f"export {how}: nothing written to {target} (its temporary file was removed)"]
    assert target.read_text(encoding="utf-8") == "the previous export\n"


def test_trace_refuses_what_is_not_an_address_and_an_empty_campaign(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """A usage error (exit 2), not "no campaign had this address"; an invalid row's cell still traces to its row."""
    env = base_env(redis_server.url, free_port())
    path = write_campaign(tmp_path, 0, identities=1, extra=FAST_PLAN, csv_text=CSV)
    cli_json(env, "submit", str(path), "--json")
    for arg, why in (("", "empty"), ("   ", "empty"), ("not an address", "bad syntax")):
        refused = cli(env, "trace", arg)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.splitlines() == [f"error: ADDRESS: not an e-mail address: {arg!r} ({why})"]
        assert refused.stdout == ""
    refused = cli(env, "trace", "user1@gmail.com", "--campaign", "")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        "error: --campaign: empty campaign id (leave the option out to search every campaign)"
    ]
    invalid = cli(env, "trace", "\x1b[31mred@x.com")  # a row submit dropped as invalid: traced, not refused
    assert invalid.returncode == 0, invalid.stderr
    assert "not loaded at submit, invalid" in invalid.stdout
    assert cli(env, "trace", "user1@gmail.com", "--campaign", "t").returncode == 0
