"""`orchestrate submit` as real processes: once even when run together, nothing left when interrupted or killed."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_sync

from tests.e2e.procs import BIN, base_env, cli, free_port, wait_for
from tests.pipeline_helpers import write_campaign
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

#: Large enough that staging takes a second or more, so a signal lands in the middle of it.
LARGE = 300_000


def _start_submit(env: dict[str, str], path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "orchestrate"), "submit", str(path), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _staging_cid(db: redis_sync.Redis) -> str:
    """The campaign id of the first record bucket a running submit has staged ('' before that)."""
    for key in db.scan_iter("wo:c:*:r:*", count=1000):
        return str(key).split(":")[2]
    return ""


def test_submit_ten_at_once_create_one_campaign(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Ten concurrent submits of the same files: one campaign; all ten exit 0 and name the same campaign id."""
    env = base_env(redis_server.url, free_port())
    path = write_campaign(tmp_path, 20_000)
    procs = [_start_submit(env, path) for _ in range(10)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, [err for _, err in outs]
    created = [m.group(1) for out, _ in outs if (m := re.match(r"campaign (\S+) created from", out))]
    reported = [
        m.group(1) for out, _ in outs if (m := re.search(r"already submitted as campaign (\S+), running now", out))
    ]
    assert len(created) == 1
    assert reported == created * 9
    assert db.zrange("wo:campaigns", 0, -1) == created
    assert db.hget(f"wo:campaign:{created[0]}", "state") == "running"
    assert int(db.hget(f"wo:c:{created[0]}:counts", "queued") or 0) == 20_000
    for _, err in outs:
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("sig", "code"),
    [
        pytest.param(signal.SIGINT, 130, id="ctrl-c"),
        pytest.param(signal.SIGTERM, 143, id="sigterm"),
    ],
)
def test_submit_interrupted_midway_removes_its_keys_at_once(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """Ctrl-C or SIGTERM while staging: its keys are gone within a second, it says so in one line; re-submit works."""
    env = base_env(redis_server.url, free_port())
    path = write_campaign(tmp_path, LARGE)
    proc = _start_submit(env, path)
    wait_for(lambda: bool(_staging_cid(db)) or proc.poll() is not None, 30, "the submit to stage records")
    assert proc.poll() is None, "the submit finished before it could be interrupted"
    proc.send_signal(sig)
    signalled = time.monotonic()
    _, err = proc.communicate(timeout=10)
    wait_for(lambda: db.dbsize() == 0, 1.0, "every key of the interrupted submit to be removed")
    assert time.monotonic() - signalled < 2.0
    assert proc.returncode == code
    assert err.count("\n") == 1
    assert "no campaign was created" in err
    assert "Traceback" not in err

    again = cli(env, "submit", str(path))
    assert again.returncode == 0, again.stderr
    assert re.match(r"campaign \S+ created from", again.stdout)
    assert db.zcard("wo:campaigns") == 1


def test_submit_killed_midway_leaves_nothing_after_the_heartbeat_ttl(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """SIGKILL while staging: its keys expire within the heartbeat TTL; a submit started meanwhile waits, then runs."""
    # 6 s: long enough that the second submit, slowed by a loaded machine, reaches the claim before the dead
    # one's lapses (it must be seen waiting); short enough to wait out.
    ttl_s = 6.0
    env = base_env(redis_server.url, free_port(), SUBMIT_HEARTBEAT_TTL_S=str(ttl_s))
    path = write_campaign(tmp_path, LARGE)
    proc = _start_submit(env, path)
    wait_for(lambda: bool(_staging_cid(db)) or proc.poll() is not None, 30, "the submit to stage records")
    killed_cid = _staging_cid(db)
    time.sleep(ttl_s / 4 + 0.5)  # at least one heartbeat (every quarter of the TTL) has refreshed the staged keys
    assert proc.poll() is None, "the submit finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    killed_at = time.monotonic()
    assert db.keys(f"wo:c:{killed_cid}:*"), "the killed submit's staged keys are there until they expire"

    # Started while the dead submit's claim is still alive: it waits for the claim to expire, then submits.
    # The default heartbeat TTL for it: a 6 s one could lapse on a loaded machine and stop it as stalled.
    again = _start_submit({k: v for k, v in env.items() if k != "SUBMIT_HEARTBEAT_TTL_S"}, path)
    wait_for(lambda: not db.keys(f"wo:c:{killed_cid}:*"), ttl_s + 1.5, "the killed submit's keys to expire")
    assert time.monotonic() - killed_at < ttl_s + 1.5
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "being submitted by another process" in err
    assert re.match(r"campaign \S+ created from", out)
    assert "Traceback" not in err
    (cid,) = db.zrange("wo:campaigns", 0, -1)
    assert cid != killed_cid
    assert db.ttl(f"wo:c:{cid}:r:0") == -1  # the new campaign's records are committed, not staged
    assert not [k for k in db.keys("wo:c:*") if not k.startswith(f"wo:c:{cid}:")]


def test_submit_waits_a_bounded_time_for_another_submit_of_the_same_files(
    db: redis_sync.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """While another process holds the files' claim, submit waits SUBMIT_WAIT_S, then exits 1 saying so."""
    from orchestrator.campaign_file import campaign_fingerprint

    env = base_env(redis_server.url, free_port(), SUBMIT_WAIT_S="1")
    path = write_campaign(tmp_path, 10)
    db.set(f"wo:fingerprint:{campaign_fingerprint(path)}", "submitting:elsewhere", ex=60)
    started = time.monotonic()
    out = cli(env, "submit", str(path))
    assert out.returncode == 1
    assert 1.0 <= time.monotonic() - started < 10
    assert "being submitted by another process" in out.stderr
    assert out.stdout == ""
    assert db.zcard("wo:campaigns") == 0
    assert "Traceback" not in out.stderr
