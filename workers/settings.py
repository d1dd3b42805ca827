"""arq WorkerSettings: finite job timeout, graceful stop, Redis retries, a frequent health check."""

from __future__ import annotations

from typing import Any, ClassVar

from arq.worker import func

from orchestrator.clock import SystemClock
from orchestrator.jobs import job_deserializer, job_serializer
from orchestrator.logs import configure_logging
from orchestrator.settings import settings_or_exit
from orchestrator.store.connection import arq_settings, redis_from_url
from orchestrator.store.ledger import Ledger
from workers.deps import Deps
from workers.send import send_one

_settings = settings_or_exit()
#: Longer than the SDK's timeout plus Redis round trips; shorter than the claim lease.
JOB_TIMEOUT_S = _settings.job_timeout_s


async def startup(ctx: dict[str, Any]) -> None:
    if "deps" in ctx:  # injected by tests and `simulate`
        return
    settings = settings_or_exit()
    configure_logging(settings.log_format, settings.log_level)
    from orchestrator.ses.client import build_sender

    redis = redis_from_url(settings.redis_url)
    ctx["deps"] = Deps(
        redis=redis,
        ledger=Ledger(redis),
        sender=build_sender(settings, redis),
        clock=SystemClock(),
        lease_s=settings.lease_s,
        reconcile_after_s=settings.reconcile_after_s,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    deps: Deps | None = ctx.get("deps")
    if deps is not None and deps.owns_sender:
        await deps.sender.close()
        await deps.redis.aclose()


class WorkerSettings:
    functions: ClassVar[list[Any]] = [func(send_one, name="send_one", timeout=JOB_TIMEOUT_S, max_tries=5)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = arq_settings(_settings.redis_url)
    max_jobs = _settings.worker_concurrency
    job_timeout = JOB_TIMEOUT_S
    job_completion_wait = JOB_TIMEOUT_S  # on SIGTERM, running sends finish before the worker stops
    health_check_interval = 30
    keep_result = 0  # the ledger holds every outcome; results in Redis would only cost memory
    poll_delay = 0.2
    # Jobs are JSON: the grant script writes them itself (orchestrator/jobs.py).
    job_serializer = staticmethod(job_serializer)
    job_deserializer = staticmethod(job_deserializer)
