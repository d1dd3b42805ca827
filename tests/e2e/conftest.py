"""Fixtures the end-to-end tests share: real processes, and a plain client of the session's Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from tests.e2e.procs import Procs
from tests.redis_server import RedisServer


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Processes a test starts; every one still running is stopped after it."""
    p = Procs(tmp_path)
    yield p
    p.stop_all()


@pytest.fixture
def db(redis_server: RedisServer) -> Iterator[redis_sync.Redis]:
    """The session's Redis, emptied for the test (str replies)."""
    r = redis_sync.Redis.from_url(redis_server.url, decode_responses=True)
    r.flushdb()
    yield r
    r.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here runs `orchestrate` as a process: all are `slow` (docs/testing.md), marked or not."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)
