"""arq's Worker, made to outlive a Redis restart that lands while it starts a job, and a full Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workers.redis_full import FullRedisNote

log = structlog.get_logger("workers.worker")

#: How long a worker waits before polling a full Redis again.
FULL_PAUSE_S = 1.0


class ResilientWorker(Worker):
    """A Worker whose job start survives a dropped connection between WATCH and EXEC, and whose loop
    survives a full Redis.

    arq starts a job inside WATCH in-progress-key ... MULTI/EXEC and catches a WatchError only from
    EXEC. redis-py never retries a command on a watched connection that broke: it raises WatchError
    from the EXISTS or ZSCORE after WATCH, which ends `Worker.main` and so the worker process. Here
    that job is given back (arq had counted it and taken a semaphore slot): it stays on the queue
    and the next poll starts it. A Redis at its `maxmemory` (with `noeviction`) refuses the job's
    start, the health record and a finished job's bookkeeping: each ended `Worker.main` too (under
    `up` silently, the worker gone while the rest ran on). Now the poll waits and tries again, saying
    so once a minute, and the jobs go on when memory is freed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._full = FullRedisNote(log, "worker")

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except (WatchError, RedisConnectionError, RedisTimeoutError, OutOfMemoryError) as exc:
            self.job_counter -= 1
            self.sem.release()
            if isinstance(exc, OutOfMemoryError):
                raise
            log.warning("job_start_interrupted", error=str(exc), queued=len(job_ids))

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except OutOfMemoryError:
            self._full.seen(time.monotonic())
            await asyncio.sleep(FULL_PAUSE_S)
