"""Send jobs on arq's queue, in JSON so the grant script can write them in the same atomic step.

The grant script (store/lua/grant.lua, called by store/limiter.py with `SEND_JOBS`) enqueues the
jobs of the sends it grants itself: a grant and its job appear together or not at all.
`enqueue_sends` re-enqueues jobs the sweeper found lost. Every arq Worker that runs send jobs must
use `job_serializer` and `job_deserializer` from here.
"""

from __future__ import annotations

import json
from typing import Any

from arq.constants import (
    default_queue_name,
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)

from orchestrator.core.clock import Clock
from orchestrator.store.limiter import JobQueue
from orchestrator.store.scripts import Scripts

SEND_FUNCTION = "send_one"
QUEUE = default_queue_name
JOB_EXPIRES_MS = expires_extra_ms
#: The queue the limiter writes granted sends' jobs to (it takes the format from here, never imports it).
SEND_JOBS = JobQueue(QUEUE, JOB_EXPIRES_MS, SEND_FUNCTION, job_key_prefix, "send:")


def job_serializer(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def job_deserializer(raw: bytes) -> Any:
    return json.loads(raw)


def send_job_id(cid: str, idx: int, grant: str) -> str:
    """One job id per grant: a grant is never enqueued twice while its job lives."""
    return SEND_JOBS.job_id(cid, idx, grant)


async def enqueue_sends(scripts: Scripts, wall: Clock, cid: str, grants: list[tuple[int, str]]) -> int:
    """Enqueue one `send_one` job per (index, grant); arq's queue runs on wall-clock time."""
    if not grants:
        return 0
    now_ms = int(wall.now() * 1000)
    job_keys: list[str] = [QUEUE]
    args: list[bytes | str | int] = [now_ms, JOB_EXPIRES_MS]
    for idx, grant in grants:
        job_id = send_job_id(cid, idx, grant)
        job_keys += [job_key_prefix + job_id, result_key_prefix + job_id, in_progress_key_prefix + job_id]
        args.append(job_id)
        args.append(job_serializer({"t": None, "f": SEND_FUNCTION, "a": [cid, idx, grant], "k": {}, "et": now_ms}))
    written = await scripts.enqueue(keys=job_keys, args=args)
    return int(written)
