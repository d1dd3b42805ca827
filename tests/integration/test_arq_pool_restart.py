"""arq's pool, made restart-tolerant as the orchestrator's own client is: a read during a Redis restart waits."""

from __future__ import annotations

import asyncio
import time

from arq.connections import create_pool

from orchestrator.store.connection import _RestartTolerant, arq_settings, make_restart_tolerant
from tests.redis_server import RedisServer


def _start_later(server: RedisServer) -> None:
    time.sleep(0.5)
    server.start()


async def test_every_connection_of_a_tolerant_arq_pool_rides_out_a_restart(
    redis_server: RedisServer, redis_url: str
) -> None:
    """The virtual run's drain reads arq's queue between jobs itself: a connection reset while the restarted
    server answered its handshake raised there (arq's Retry covers a command, not a reconnect). Every
    connection of the pool, the one arq opened at create included, now reconnects as the orchestrator's
    own client does, and a read made while the server is down answers once it is back."""
    pool = await create_pool(arq_settings(redis_url))
    await make_restart_tolerant(pool)
    try:
        await asyncio.gather(*(pool.zcard(f"q{n}") for n in range(8)))  # several connections at once
        opened = pool.connection_pool._available_connections
        assert len(opened) >= 2
        assert all(isinstance(c, _RestartTolerant) for c in opened)
        redis_server.stop(kill=True)
        back = asyncio.get_running_loop().run_in_executor(None, _start_later, redis_server)
        try:
            assert await pool.zcard("nothing") == 0
        finally:
            await back
    finally:
        await pool.aclose()
