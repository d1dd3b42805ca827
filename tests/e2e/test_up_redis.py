"""`orchestrate up` never hides a broken Redis: only an unset REDIS_URL with nothing listening gets an embedded one."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.embedded import EmbeddedRedis
from orchestrator.settings import Settings
from orchestrator.up import may_embed
from tests.e2e.locked_redis import RIGHT_PASSWORD, WRONG_PASSWORD, locked_redis, url_with
from tests.e2e.procs import BIN, free_port

__all__ = ["locked_redis"]  # the fixture, used by name below


def _up(tmp_path: Path, redis_url: str, redis_port: int) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "SES_", "REDIS_URL"))}
    env.update({"REDIS_URL": redis_url, "ORCHESTRATE_STATE_DIR": str(tmp_path / "state"), "NO_PROXY": "127.0.0.1"})
    argv = [str(BIN / "orchestrate"), "up", "--redis-port", str(redis_port), "--emulator-port", str(free_port())]
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    return done, time.monotonic() - started


def _assert_refused_without_embedding(
    tmp_path: Path, done: subprocess.CompletedProcess[str], elapsed_s: float, expected: str
) -> None:
    assert done.returncode == 1
    assert elapsed_s < 10
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "embedded" not in done.stdout
    assert not (tmp_path / "state" / "redis.url").exists()
    assert not (tmp_path / "state" / "redis").exists()  # no embedded redis-server ever started


@pytest.mark.slow
def test_up_with_a_wrong_password_stops_with_the_auth_error(tmp_path: Path, locked_redis: EmbeddedRedis) -> None:
    """REDIS_URL's Redis refuses the password: `up` exits 1 at once with one masked line, no embedded Redis."""
    done, elapsed = _up(tmp_path, url_with(locked_redis, WRONG_PASSWORD), free_port())
    _assert_refused_without_embedding(
        tmp_path, done, elapsed, f"Redis at redis://***@127.0.0.1:{locked_redis.port}/0 refused"
    )
    assert WRONG_PASSWORD not in done.stdout + done.stderr
    assert RIGHT_PASSWORD not in done.stdout + done.stderr


@pytest.mark.slow
def test_up_with_redis_url_where_nothing_listens_is_an_error(tmp_path: Path) -> None:
    """REDIS_URL names a Redis that is not running: `up` says so instead of starting an empty one."""
    port = free_port()
    done, elapsed = _up(tmp_path, f"redis://127.0.0.1:{port}/0", free_port())
    _assert_refused_without_embedding(tmp_path, done, elapsed, f"nothing listens at redis://127.0.0.1:{port}/0")
    assert "unset REDIS_URL" in done.stderr


@pytest.mark.parametrize(
    ("redis_url", "expected"),
    [
        pytest.param(None, True, id="unset"),
        pytest.param("redis://127.0.0.1:6390/0", True, id="the-embedded-address"),
        pytest.param("redis://127.0.0.1:6379/0", False, id="set-to-the-default"),
        pytest.param("redis://db.internal:6379/0", False, id="another-host"),
        pytest.param("redis://:pw@127.0.0.1:6390/0", False, id="embedded-port-with-a-password"),
    ],
)
def test_may_embed_only_where_the_user_named_no_other_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str | None, expected: bool
) -> None:
    """An embedded Redis may replace the default URL or its own address, never a Redis the user chose."""
    monkeypatch.chdir(tmp_path)  # no .env file
    if redis_url is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", redis_url)
    assert may_embed(Settings(), port=6390) is expected


@pytest.mark.slow
def test_up_with_a_folder_where_it_records_its_redis_is_one_line(tmp_path: Path) -> None:
    """A folder in the place of the redis.url `up` writes: one line naming it, exit 2, its embedded Redis stopped."""
    url_file = tmp_path / "state" / "redis.url"
    url_file.mkdir(parents=True)
    port = free_port()
    done, _ = _up(tmp_path, f"redis://127.0.0.1:{port}/0", port)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"error: cannot write {url_file} in up's state folder (Is a directory)"]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # the embedded redis-server is gone
