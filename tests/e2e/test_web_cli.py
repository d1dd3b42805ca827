"""`orchestrate web` as a subprocess: it refuses a wide address without a token, and serves behind one."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.procs import BIN, free_port, wait_for
from tests.e2e.web_helpers import get

pytestmark = pytest.mark.slow

TOKEN = "cli-operator-token-0123456789"
CALLBACK = "cli-callback-token-0123456789"


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "CALLBACK_"))}
    env.update({"REDIS_URL": redis_url, "NO_PROXY": "127.0.0.1,localhost", "LOG_FORMAT": "json", **extra})
    return env


def test_web_refuses_a_non_loopback_host_without_token(redis_url: str) -> None:
    """--host 0.0.0.0 without WEB_ACCESS_TOKEN: one line naming the fix, exit code 2."""
    done = subprocess.run(
        [str(BIN / "orchestrate"), "web", "--host", "0.0.0.0", "--port", str(free_port())],
        env=_env(redis_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "WEB_ACCESS_TOKEN" in lines[0]


def test_web_serves_behind_its_token_and_never_logs_it(redis_url: str, tmp_path: Path) -> None:
    """With both tokens set: the log names the URLs and the callbacks as on, never a token; Ctrl-C stops it."""
    port = free_port()
    out = (tmp_path / "web.out").open("w")
    env = _env(redis_url, WEB_ACCESS_TOKEN=TOKEN, CALLBACK_TOKEN=CALLBACK)
    proc = subprocess.Popen(
        [str(BIN / "orchestrate"), "web", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "web_started" in (tmp_path / "web.out").read_text(), 30, "web to start")
        assert get(base + "/")[0] == 401
        assert get(base + "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(base + "/healthz")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        out.close()
    assert code == 0
    log = (tmp_path / "web.out").read_text()
    assert f"{base}/metrics" in log
    assert '"callbacks": "on"' in log
    assert TOKEN not in log
    assert CALLBACK not in log
