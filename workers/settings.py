"""The send worker's arq options: finite job timeout, graceful stop, Redis retries, a frequent health check.

`worker_options` is the one place a send worker is described: `orchestrate worker`, `up` and the
virtual run all build their Worker from it. `arq workers.WorkerSettings` gets the same options as a
class built from the settings when arq first asks for it, never when the module is imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

from arq.worker import Worker, func

from orchestrator.core.clock import SystemClock
from orchestrator.core.endpoint import sending_target
from orchestrator.logging_setup import configure_logging
from orchestrator.settings import Settings, settings_or_exit
from orchestrator.store import suppression
from orchestrator.store.connection import arq_settings, redis_from_url
from orchestrator.store.ledger import Ledger
from workers.deps import Deps
from workers.jobs import SEND_FUNCTION, job_deserializer, job_serializer
from workers.send import send_one

W = TypeVar("W", bound=Worker)


def worker_options(job_timeout_s: int, max_jobs: int, redis_url: str) -> dict[str, Any]:
    """The arq Worker options of every send worker; `job_timeout_s` is longer than the SDK's timeout
    plus Redis round trips and shorter than the claim lease."""
    return {
        "functions": [func(send_one, name=SEND_FUNCTION, timeout=job_timeout_s, max_tries=5)],
        "redis_settings": arq_settings(redis_url),
        "max_jobs": max_jobs,
        "job_timeout": job_timeout_s,
        "job_completion_wait": job_timeout_s,  # on SIGTERM, running sends finish before the worker stops
        "health_check_interval": 30,
        "keep_result": 0,  # the ledger holds every outcome; results in Redis would only cost memory
        "poll_delay": 0.2,
        # Jobs are JSON: the grant script writes them itself (workers/jobs.py).
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
    }


def build_worker(cls: type[W], job_timeout_s: int, max_jobs: int, redis_url: str, **options: Any) -> W:
    """A Worker of `cls` running the send jobs; `options` add to or replace the shared ones (ctx, burst...)."""
    return cls(**{**worker_options(job_timeout_s, max_jobs, redis_url), **options})


def process_options(settings: Settings) -> dict[str, Any]:
    """What a worker process runs with (`orchestrate worker`, `arq workers.WorkerSettings`): it builds its
    own Redis client and sender at startup and closes them at shutdown."""
    options = worker_options(settings.job_timeout_s, settings.worker_concurrency, settings.redis_url)
    options["on_startup"] = _startup(settings)
    options["on_shutdown"] = shutdown
    return options


def _startup(settings: Settings) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def startup(ctx: dict[str, Any]) -> None:
        if "deps" in ctx:  # injected by tests and `simulate`
            return
        configure_logging(settings.log_format, settings.log_level)
        from orchestrator.ses.client import build_sender

        redis = redis_from_url(settings.redis_url)
        clock = SystemClock()
        # Lists written by an older version are converted before the first claim reads them.
        await suppression.migrate_all(redis, clock.now())
        ctx["deps"] = Deps(
            redis=redis,
            ledger=Ledger(redis),
            sender=build_sender(settings, redis),
            clock=clock,
            lease_s=settings.lease_s,
            reconcile_after_s=settings.reconcile_after_s,
            pseudonym_key=settings.pseudonym_key(),
            target=sending_target(settings.ses_endpoint, settings.ses_region),
        )

    return startup


async def shutdown(ctx: dict[str, Any]) -> None:
    deps: Deps | None = ctx.get("deps")
    if deps is not None and deps.owns_sender:
        await deps.sender.close()
        await deps.redis.aclose()


@cache
def worker_settings_class() -> type:
    """`WorkerSettings` for the arq command line, from the settings (a malformed one exits, as on any start)."""
    # arq takes the options from the class's __dict__ as they are (functions stay plain functions).
    return type("WorkerSettings", (), process_options(settings_or_exit()))


def __getattr__(name: str) -> Any:
    # arq reads `workers.settings.WorkerSettings` (or `workers.WorkerSettings`) once, at start.
    if name == "WorkerSettings":
        return worker_settings_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
