"""`orchestrate web` as a subprocess: it refuses a wide address without a token, and serves behind one."""

from __future__ import annotations

import http.client
import json
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


def _ask(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, str, str]:
    """(status, body, Set-Cookie) of one request to the local web process; redirects are not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), resp.getheader("Set-Cookie", "")
    finally:
        conn.close()


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
    """With both tokens set: the log names the URLs and the callbacks as on, never a token, even after
    requests carrying each (a callback posted to its tokened path, a page opened with ?token=); Ctrl-C stops it."""
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
        # The callback token travels in the path: an access-log line would carry it.
        hook = f"/callbacks/tencent/{CALLBACK}"
        event = json.dumps({"event": "open", "bulkId": "m-unknown", "email": "a@example.com", "timestamp": 1})
        assert _ask(port, "POST", hook, event.encode())[:2] == (200, "ok\n")
        # A refused body is logged (callback_refused): the line names the reason, not the path.
        assert _ask(port, "POST", hook, b"not json")[:2] == (400, "body: not JSON (JSONDecodeError)\n")
        assert _ask(port, "POST", hook + "x", event.encode())[0] == 404
        # The operator token in the address, once: a cookie without the token and a redirect to /.
        status, _, cookie = _ask(port, "GET", f"/?token={TOKEN}")
        assert (status, "HttpOnly" in cookie, TOKEN in cookie) == (303, True, False)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        out.close()
    assert code == 0
    log = (tmp_path / "web.out").read_text()
    assert f"{base}/metrics" in log
    assert '"callbacks": "on"' in log
    assert '"event": "callback_refused"' in log  # the callback route's own lines reach this log
    assert TOKEN not in log
    assert CALLBACK not in log
