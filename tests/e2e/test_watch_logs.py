"""`watch` and `logs --follow` as a person runs them: they show the campaign and leave cleanly on Ctrl-C."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from orchestrator.core.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED
from tests.e2e.procs import BIN, cli_json, interrupt_once_shown, read_terminal
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer, find_redis_server, free_port

pytestmark = pytest.mark.slow

#: What a terminal is sent to hide and to show the cursor (rich's live view hides it while it runs).
HIDE_CURSOR, SHOW_CURSOR = b"\x1b[?25l", b"\x1b[?25h"


@pytest.fixture
def env(redis_server: RedisServer) -> Iterator[dict[str, str]]:
    r = redis_sync.Redis.from_url(redis_server.url)
    r.flushdb()
    r.close()
    return {**os.environ, "REDIS_URL": redis_server.url, "COLUMNS": "120"}


def _submit_then_interrupt(
    env: dict[str, str], tmp_path: Path, argv: list[str]
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Submit a small campaign, run `argv CAMPAIGN` until it shows the campaign, press Ctrl-C: it left with
    exit 0, no traceback."""
    path = write_campaign(tmp_path, 5, identities=2)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    shown = [cid, "t-id0", "t-id1", "campaign_submitted"] if argv[0] == "watch" else ["campaign_submitted"]
    done = interrupt_once_shown([str(BIN / "orchestrate"), *argv, cid], env, shown)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return cid, done


@pytest.mark.parametrize(
    "argv",
    [pytest.param(["watch"], id="watch"), pytest.param(["logs", "--follow"], id="logs-follow")],
)
def test_live_commands_show_the_campaign_and_leave_on_ctrl_c(
    env: dict[str, str], tmp_path: Path, argv: list[str]
) -> None:
    """The view names the campaign; Ctrl-C ends it with exit 0 and no traceback."""
    cid, done = _submit_then_interrupt(env, tmp_path, argv)
    if argv[0] == "watch":
        assert cid in done.stdout
        assert "t-id0" in done.stdout
        assert "t-id1" in done.stdout
    else:
        assert "campaign_submitted" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [pytest.param(["watch"], id="watch"), pytest.param(["logs", "--follow"], id="logs-follow")],
)
def test_live_commands_leave_on_ctrl_c_over_a_long_event_stream(
    env: dict[str, str], tmp_path: Path, argv: list[str], redis_server: RedisServer
) -> None:
    """With 300,000 older events of other campaigns, `watch` shows this one at once and both leave on Ctrl-C.

    A Ctrl-C that landed inside a Redis call used to be lost there: the command kept running.
    """
    r = redis_sync.Redis.from_url(redis_server.url)
    with r.pipeline(transaction=False) as pipe:
        for n in range(300_000):
            pipe.xadd("wo:events", {"t": "1.0", "type": "hour_summary", "campaign": "other", "data": "{}"})
            if n % 20_000 == 0:
                pipe.execute()
        pipe.execute()
    r.close()
    _, done = _submit_then_interrupt(env, tmp_path, argv)
    if argv[0] == "watch":
        assert "campaign_submitted" in done.stdout  # from the newest events, not 2,000 a second from the start


def test_watch_of_a_campaign_that_ended_shows_it_once_and_leaves(env: dict[str, str], tmp_path: Path) -> None:
    """Piped (not a terminal), `watch` prints its frames as lines; once the campaign is cancelled or
    completed nothing more can change: it prints the last frame, the final state, and exits 0."""
    path = write_campaign(tmp_path, 5, identities=2)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    cancelled = subprocess.run(
        [str(BIN / "orchestrate"), "cancel", cid], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert cancelled.returncode == 0, cancelled.stderr
    done = subprocess.run(
        [str(BIN / "orchestrate"), "watch", cid], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert cid in done.stdout
    assert done.stdout.rstrip().endswith(": cancelled")


def test_ctrl_c_while_orchestrate_loads_ends_it_quietly(env: dict[str, str]) -> None:
    """Ctrl-C while Python imports the CLI (just after click, the first of its imports, as Python's import
    timing shows): exit 130, nothing printed. It was a traceback through whatever module was loading."""
    for _ in range(3):
        proc = subprocess.Popen(
            [str(BIN / "orchestrate"), "status"],
            env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if re.search(r"\|\s+click$", line.rstrip()):
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert out == ""
        assert [line for line in err.splitlines() if not line.startswith("import time:")] == []


def _terminated_on_a_terminal(argv: list[str], env: dict[str, str], shown: str) -> tuple[int, bytes, str]:
    """Run `argv` on a pseudo-terminal until its output holds `shown`, send SIGTERM (a supervisor's stop, `kill`):
    its exit code, all it wrote to the terminal, its stderr."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=sub, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(sub)
    sent: list[bool] = []

    def terminate_once_shown(so_far: bytes) -> None:
        if not sent and shown.encode() in so_far:
            proc.send_signal(signal.SIGTERM)
            sent.append(True)

    try:
        out = read_terminal(main, terminate_once_shown, quiet_s=30)
        _, err = proc.communicate(timeout=30)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sent, f"{argv[1]} ended before it showed {shown!r}"
    return proc.returncode, out, err.decode()


@pytest.mark.parametrize(
    "argv",
    [pytest.param(["watch"], id="watch"), pytest.param(["logs", "--follow"], id="logs-follow")],
)
def test_live_commands_stopped_by_sigterm_give_the_terminal_back(
    env: dict[str, str], tmp_path: Path, argv: list[str]
) -> None:
    """SIGTERM stops them like Ctrl-C, through their cleanup, then exit 143: `watch`'s live view shows the
    cursor again (killed outright it stayed hidden in the operator's terminal)."""
    path = write_campaign(tmp_path, 5, identities=2)
    cid = str(cli_json(env, "submit", str(path), "--json")["campaign_id"])  # type: ignore[index]
    code, shown, err = _terminated_on_a_terminal([str(BIN / "orchestrate"), *argv, cid], env, "campaign_submitted")
    assert code == EXIT_TERMINATED, err
    assert "Traceback" not in err
    if argv[0] == "watch":
        assert shown.rfind(HIDE_CURSOR) >= 0
        assert shown.rfind(SHOW_CURSOR) > shown.rfind(HIDE_CURSOR)


def test_watch_whose_redis_goes_away_ends_in_one_plain_line(tmp_path: Path) -> None:
    """The Redis under a running `watch` stops (an `up` ended in another terminal): once its reconnects give up,
    it exits 1 with the line a command started without a Redis prints, not redis-py's "Error 111 connecting"."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary")
    (tmp_path / "redis").mkdir()
    server = RedisServer(binary, free_port(), tmp_path / "redis")
    server.start()
    try:
        env = {**os.environ, "REDIS_URL": server.url, "COLUMNS": "120"}
        cid = str(cli_json(env, "submit", str(write_campaign(tmp_path, 5)), "--json")["campaign_id"])  # type: ignore[index]
        proc = subprocess.Popen(
            [str(BIN / "orchestrate"), "watch", cid], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert cid in proc.stdout.readline() + proc.stdout.readline()
    finally:
        server.stop(kill=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert err.strip() == f"error: nothing listens at {server.url}; set REDIS_URL or run `orchestrate up`"
