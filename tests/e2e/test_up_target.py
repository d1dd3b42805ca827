"""A trial under `up` against the emulator, then the same state folder run for real: the trial's campaign is
not sent from the new place behind the operator's back. It pauses at its first claim there, saying where its
mail went; a plain `resume` sends the rest there, no recipient twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import IO

import pytest

from orchestrator.ses.emulator.world import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tests.e2e.procs import BIN, free_port, send_log, wait_for
from tests.pipeline_helpers import write_campaign

pytestmark = pytest.mark.slow

#: One send every 5 s: the trial is stopped with most of the list left.
PLAN = {"plan": {"rows": [{"days": "1", "daily": 100000, "hourly": 720}]}, "shaping": {"max_domain_share": 1.0}}


def _orchestrate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "orchestrate"), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def _status(env: dict[str, str], cid: str) -> dict[str, object]:
    done = _orchestrate(env, "status", cid, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _up(env: dict[str, str], out: IO[str], redis_port: int, ses_port: int) -> subprocess.Popen[bytes]:
    argv = [str(BIN / "orchestrate"), "up", "--redis-port", str(redis_port), "--emulator-port", str(ses_port)]
    return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=out.name.rpartition("/")[0])


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(up: subprocess.Popen[bytes]) -> None:
    up.send_signal(signal.SIGINT)
    assert up.wait(timeout=60) == 0


def test_a_trial_campaign_pauses_when_up_sends_elsewhere_and_goes_on_there_once_resumed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    redis_port, trial_port, real_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "SES_", "REDIS_URL"))}
    env |= {
        "ORCHESTRATE_STATE_DIR": str(state),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "NO_PROXY": "127.0.0.1,localhost",
        "PACER_INTERVAL_S": "0.2",
        "WEB_PORT": str(free_port()),
    }
    client = {k: v for k, v in env.items() if k != "REDIS_URL"}  # another terminal: the URL `up` recorded
    trial_log, real_log = state / "emulator-sends.jsonl", tmp_path / "real-sends.jsonl"

    with (tmp_path / "trial.out").open("w") as out:
        up = _up(env, out, redis_port, trial_port)
        try:
            wait_for(lambda: "workers and pacer running" in (tmp_path / "trial.out").read_text(), 30, "up")
            submitted = _orchestrate(client, "submit", str(write_campaign(tmp_path, 12, identities=1, extra=PLAN)))
            assert submitted.returncode == 0, submitted.stderr
            cid = submitted.stdout.split()[1]
            wait_for(lambda: len(send_log(trial_log)) >= 2, 60, "two trial sends")
        finally:
            _stop(up)
    tried = len(send_log(trial_log))
    assert tried < 12

    # "Tencent" now: another endpoint (its host named otherwise), with credentials; the same state folder.
    real = subprocess.Popen(
        [str(BIN / "orchestrate"), "emulator", "--port", str(real_port), "--send-log", str(real_log)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: _listens(real_port), 30, "the second emulator")
    live = env | {
        "SES_ENDPOINT": f"http://localhost:{real_port}",
        "TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID,
        "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY,
    }
    try:
        with (tmp_path / "live.out").open("w") as out:
            up = _up(live, out, redis_port, free_port())
            try:
                banner = (tmp_path / "live.out").read_text
                wait_for(lambda: "workers and pacer running" in banner(), 30, "up")
                bound = "its mail bound to the endpoint at 127.0.0.1: paused at its first claim here"
                assert f"campaigns: {cid} running, {bound} (unfinished here" in banner()
                # Up to ACCOUNT_WAIT_MAX_S (30 s) first: a restarted Redis gives no API slot before the
                # ones the last run may still hold (the first tick's quota read waits for one).
                wait_for(lambda: _status(client, cid)["state"] == "paused", 90, "the campaign paused")
                paused = _status(client, cid)
                assert paused["paused_by"] == "worker"
                assert "it sends to the endpoint at 127.0.0.1" in str(paused["reason"])
                assert "the endpoint at localhost" in str(paused["reason"])
                assert send_log(real_log) == []  # nothing sent from the new place before the operator's word
                resumed = _orchestrate(client, "resume", cid)
                assert resumed.returncode == 0, resumed.stderr
                wait_for(lambda: len(send_log(real_log)) >= 2, 60, "sends from the new place")
            finally:
                _stop(up)
    finally:
        real.send_signal(signal.SIGINT)
        real.wait(timeout=30)
    to = [s["to_address"] for s in send_log(trial_log) + send_log(real_log)]
    assert len(to) == len(set(to))  # no recipient twice, across both places
    assert len(send_log(trial_log)) == tried  # and none went to the trial's place after it
