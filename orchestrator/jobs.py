"""Putting send jobs on arq's queue in bulk, in arq's own job format (one round trip a batch)."""

from __future__ import annotations

from arq.constants import default_queue_name, expires_extra_ms
from arq.jobs import serialize_job

from orchestrator.core.clock import Clock
from orchestrator.store.scripts import Scripts

SEND_FUNCTION = "send_one"


def send_job_id(cid: str, idx: int, grant: str) -> str:
    """One job id per grant: a grant is never enqueued twice while its job lives."""
    return f"send:{cid}:{idx}:{grant}"


async def enqueue_sends(scripts: Scripts, wall: Clock, cid: str, grants: list[tuple[int, str]]) -> int:
    """Enqueue one `send_one` job per (index, grant); arq's queue runs on wall-clock time."""
    if not grants:
        return 0
    now_ms = int(wall.now() * 1000)
    args: list[bytes | str | int] = [now_ms, expires_extra_ms]
    for idx, grant in grants:
        args.append(send_job_id(cid, idx, grant))
        args.append(serialize_job(SEND_FUNCTION, (cid, idx, grant), {}, None, now_ms))
    written = await scripts.enqueue(keys=[default_queue_name], args=args)
    return int(written)
