"""arq's Worker, made to outlive a Redis restart that lands while it starts a job."""

from __future__ import annotations

import structlog
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

log = structlog.get_logger("workers.worker")


class ResilientWorker(Worker):
    """A Worker whose job start survives a dropped connection between WATCH and EXEC.

    arq starts a job inside WATCH in-progress-key ... MULTI/EXEC and catches a WatchError only from
    EXEC. redis-py never retries a command on a watched connection that broke: it raises WatchError
    from the EXISTS or ZSCORE after WATCH, which ends `Worker.main` and so the worker process. Here
    that job is given back (arq had counted it and taken a semaphore slot): it stays on the queue
    and the next poll starts it.
    """

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except (WatchError, RedisConnectionError, RedisTimeoutError) as exc:
            self.job_counter -= 1
            self.sem.release()
            log.warning("job_start_interrupted", error=str(exc), queued=len(job_ids))
