"""A Redis that evicts keys is refused by every command that makes or sends mail; one without an
append-only file is a warning (store/server_check.py). Real redis-servers, the real command line."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from redis import Redis
from redis.exceptions import ResponseError

from orchestrator.embedded import EmbeddedRedis
from orchestrator.logging_setup import configure_logging
from orchestrator.store.connection import error_text, redis_from_url
from orchestrator.store.server_check import Keeping, keeping_at
from tests.e2e.locked_redis import started_or_skip
from tests.e2e.procs import BIN, free_port
from tests.pipeline_helpers import write_campaign


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own (its settings are changed), AOF off, stopped at the end."""
    server = started_or_skip(tmp_path / "own-redis")
    yield server
    server.stop()


def _orchestrate(
    tmp_path: Path, url: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    given = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "SES_", "REDIS_"))}
    env.update({"REDIS_URL": url, "ORCHESTRATE_STATE_DIR": str(tmp_path / "state"), "NO_PROXY": "127.0.0.1"})
    env.update(given)
    started = time.monotonic()
    argv = [str(BIN / "orchestrate"), *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    return done, time.monotonic() - started


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_submit_pacer_worker_and_up_refuse_a_redis_that_evicts_keys(
    tmp_path: Path, own_redis: EmbeddedRedis, policy: str
) -> None:
    """Each exits 1 at once with one line naming the policy and the fix; submit writes nothing."""
    client = Redis.from_url(own_redis.url)
    client.config_set("maxmemory-policy", policy)
    campaign = write_campaign(tmp_path, 20)
    up = ["up", "--redis-port", str(free_port()), "--emulator-port", str(free_port())]
    for args in (["submit", str(campaign)], ["pacer"], ["worker"], up):
        done, elapsed = _orchestrate(tmp_path, own_redis.url, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert elapsed < 20, args
        lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, (args, done.stderr)
        assert f"maxmemory-policy {policy}" in lines[0]
        assert "maxmemory-policy noeviction" in lines[0]
        assert "Traceback" not in done.stderr
    assert client.dbsize() == 0  # nothing written: no campaign, no claim, no queue
    client.close()


def test_submit_on_a_redis_without_an_append_only_file_warns_and_submits(
    tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    """`appendonly no`: a warning on stderr naming it, and the campaign is submitted all the same."""
    campaign = write_campaign(tmp_path, 20)
    done, _ = _orchestrate(tmp_path, own_redis.url, "submit", str(campaign))
    assert done.returncode == 0, done.stderr
    assert "warning: Redis at redis://127.0.0.1:" in done.stderr
    assert "appendonly no" in done.stderr
    assert " created from " in done.stdout
    assert "valid 20" in done.stdout


def test_a_durable_redis_is_neither_refused_nor_warned_about(redis_url: str) -> None:
    """The tests' own Redis (AOF on, noeviction): nothing to say."""
    kept = asyncio.run(keeping_at(redis_url))
    assert kept == Keeping("noeviction", True)
    assert (kept.refusal(redis_url), kept.warning(redis_url)) == (None, None)
    assert Keeping(None, None).refusal(redis_url) is None  # INFO refused: taken as it is


def test_a_full_redis_is_named_without_the_data_of_the_refused_command(
    tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    """A write refused for memory (noeviction at maxmemory): one line with Redis's OOM answer; redis-py's
    quote of the failed pipeline command, whose arguments are the address and its entry, is left out."""
    client = Redis.from_url(own_redis.url)
    client.set("ballast", "x" * 200_000)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", str(used - 100_000))  # every write that may grow memory is refused
    done, _ = _orchestrate(tmp_path, own_redis.url, "suppress", "add", "secret.person@example.com", "--reason", "hush")
    client.config_set("maxmemory", "0")
    client.close()
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line == (
        f"error: Redis at {own_redis.url} is full (maxmemory reached; it evicts nothing) and refused a write: "
        "free memory or raise its maxmemory, then run the command again"
    )
    assert "secret.person" not in done.stderr + done.stdout
    assert "hush" not in done.stderr + done.stdout


async def _pipeline_writing_an_address(redis_url: str) -> None:
    """A pipeline whose HSET of an address and its data fails (the key holds another type)."""
    client = redis_from_url(redis_url)
    await client.set("plain", "1")
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hset("plain", "secret.person@example.com", '{"reason": "hush"}')
            await pipe.execute()
    finally:
        await client.aclose()


def test_a_failed_pipeline_command_is_told_without_its_arguments(redis_url: str) -> None:
    """redis-py quotes the whole failed command of a pipeline ahead of Redis's answer: error_text keeps the answer."""
    with pytest.raises(ResponseError) as failed:
        asyncio.run(_pipeline_writing_an_address(redis_url))
    assert "secret.person" in str(failed.value)  # what redis-py says
    assert error_text(failed.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_a_failed_pipeline_command_is_logged_without_its_arguments(redis_url: str) -> None:
    """A job that fails on such an error is logged by arq with its message and traceback (a worker's
    JSON log and its terminal log alike): the address and data are in neither."""
    real = sys.stderr
    try:
        for fmt in ("json", "console"):
            sys.stderr = buf = io.StringIO()
            configure_logging(fmt, "INFO")  # type: ignore[arg-type]
            try:
                asyncio.run(_pipeline_writing_an_address(redis_url))
            except ResponseError as exc:
                logging.getLogger("arq.worker").exception("send:1 failed, %s: %s", type(exc).__name__, exc)
                structlog.get_logger("orchestrator").error("job_failed", error=str(exc), exc_info=True)
            logged = buf.getvalue()
            assert logged.count("WRONGTYPE") >= 4, logged  # each message and each traceback says what Redis said
            assert "secret.person" not in logged, logged
            assert "hush" not in logged, logged
    finally:
        sys.stderr = real
        configure_logging("json", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


class _Stalled(socketserver.ThreadingTCPServer):
    """A 'Redis' that answers PING and CLIENT (the connection's handshake), then nothing: a stalled server."""

    daemon_threads = True
    allow_reuse_address = True


class _StallHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if not line.startswith(b"*"):
                continue
            parts = []
            for _ in range(int(line[1:])):
                self.rfile.readline()  # $<length>
                parts.append(self.rfile.readline().strip().upper())
            if parts[:1] == [b"PING"]:
                self.wfile.write(b"+PONG\r\n")
            elif parts[:1] == [b"CLIENT"]:
                self.wfile.write(b"+OK\r\n")
            # anything else: no answer, ever


@pytest.mark.parametrize("args", [["status"], ["pause", "some-campaign"], ["trace", "a@example.com"]])
def test_a_command_on_a_redis_that_stops_answering_ends_after_redis_timeout_s(tmp_path: Path, args: list[str]) -> None:
    """The server answered the probe, then stalls: the command exits 1 after REDIS_TIMEOUT_S, in one line."""
    server = _Stalled(("127.0.0.1", 0), _StallHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"redis://127.0.0.1:{server.server_address[1]}/0"
        env = {"REDIS_TIMEOUT_S": "1"}
        done, elapsed = _orchestrate(tmp_path, url, *args, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert elapsed < 15
    assert done.stderr.splitlines() == [f"error: Redis at {url} did not answer in time (REDIS_TIMEOUT_S 1 s)"]


class _Http(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _HttpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.rfile.readline()
        self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def test_redis_url_naming_something_else_or_tls_to_a_plain_server_says_which(tmp_path: Path, redis_url: str) -> None:
    """An HTTP server at REDIS_URL's port, and rediss:// to a Redis without TLS: one line each with the hint."""
    server = _Http(("127.0.0.1", 0), _HttpHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        http = f"redis://127.0.0.1:{server.server_address[1]}/0"
        done, _ = _orchestrate(tmp_path, http, "status")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: what listens at {http} does not answer as Redis does (")
    assert line.endswith("is REDIS_URL's port a Redis?")
    tls = redis_url.replace("redis://", "rediss://", 1) + "?ssl_cert_reqs=none"
    done, _ = _orchestrate(tmp_path, tls, "status")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.endswith("did not answer in time (a rediss:// URL: does that server speak TLS?)"), line
