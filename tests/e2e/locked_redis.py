"""A private redis-server that requires a password, for the tests of a Redis that refuses us."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.embedded import EmbeddedRedis, EmbeddedRedisError, find_redis_server

RIGHT_PASSWORD = "right-pw-7Qx2"
WRONG_PASSWORD = "wrong-pw-9Kd4"


def started_or_skip(workdir: Path, password: str | None = None) -> EmbeddedRedis:
    """A redis-server of the test's own (AOF off), on a free port; the test is skipped where none can run."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary")
    server = EmbeddedRedis(workdir=workdir, password=password, binary=binary)
    try:
        server.start()
    except (OSError, EmbeddedRedisError) as exc:
        pytest.skip(f"redis-server cannot run here: {exc}")
    return server


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server with `requirepass`, on a free port, stopped at the end of the test."""
    server = started_or_skip(tmp_path / "locked-redis", RIGHT_PASSWORD)
    yield server
    server.stop()


def url_with(server: EmbeddedRedis, password: str) -> str:
    return f"redis://:{password}@127.0.0.1:{server.port}/0"
