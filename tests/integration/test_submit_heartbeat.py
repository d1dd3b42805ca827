"""A submit's heartbeat that failed on its own (Redis gone) is collected when the submit gives up."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from orchestrator.embedded import free_port
from orchestrator.submit_claim import Heartbeat, StagingKeys


async def test_a_heartbeat_that_failed_by_itself_leaves_no_unretrieved_exception() -> None:
    """Its beat met no Redis and its task ended with the error; cancel() collects it: asyncio has no
    "Task exception was never retrieved" to print when the task is gone."""
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    gone: Redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", retry=Retry(NoBackoff(), 0))
    fresh = Heartbeat(gone, "f" * 64, "claim", StagingKeys("c-2", 0.04), lambda: 0)
    fresh.start()
    for _ in range(200):
        if fresh._task is not None and fresh._task.done():
            break
        await asyncio.sleep(0.01)
    assert fresh._task is not None
    assert fresh._task.done()  # its beat failed: nothing listens there
    await fresh.cancel()  # what a submit given up does with it
    del fresh
    gc.collect()
    await asyncio.sleep(0)
    assert [c for c in reported if "never retrieved" in str(c.get("message"))] == []
    await gone.aclose()
