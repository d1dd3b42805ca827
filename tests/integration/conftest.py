"""Fixtures of the integration tests: the pipeline harness of tests/pipeline_harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from orchestrator.core.clock import VirtualClock
from orchestrator.ses.emulator import run_emulator
from tests.pipeline_harness import START, Pipeline, make_world


@pytest.fixture
async def pipe(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    clock = VirtualClock(START)
    world = make_world([f"d{k}.example.com" for k in range(3)])
    async with run_emulator(world, clock=clock) as emu:
        yield Pipeline(redis, redis_url, clock, emu, tmp_path)
