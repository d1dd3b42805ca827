"""`orchestrate pacer`: the process that grants sends just in time (one active at a time)."""

from __future__ import annotations

import asyncio
import signal

import click
import structlog
from redis.exceptions import RedisError

from orchestrator.cli import AppContext
from orchestrator.commands._common import CommandError, require_redis
from orchestrator.core.clock import SystemClock
from orchestrator.store.connection import redis_from_url
from workers.pacer import build_pacer, pacer_config, run_pacer


async def serve_pacer(app: AppContext, stop: asyncio.Event) -> None:
    from orchestrator.ses.client import build_sender

    settings = app.settings
    redis = redis_from_url(settings.redis_url)
    sender = build_sender(settings, redis)
    pacer = build_pacer(redis, SystemClock(), pacer_config(settings), sender=sender)
    structlog.get_logger("orchestrator.pacer").info("pacer_started", interval_s=settings.pacer_interval_s)
    try:
        await run_pacer(pacer, interval_s=settings.pacer_interval_s, sweep_every_s=settings.sweep_interval_s, stop=stop)
    finally:
        await sender.close()
        await redis.aclose()


@click.command("pacer")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Run the pacer: grants sends to the plan and re-enqueues lost ones (Ctrl-C stops it)."""

    async def main() -> None:
        # A Redis that refuses us (a wrong password, nothing listening) is one line, not a traceback.
        await require_redis(ctx.obj.settings.redis_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve_pacer(ctx.obj, stop)
        except RedisError as exc:  # retries exhausted: Redis gone for longer than a restart
            raise CommandError(f"Redis error: {exc}") from None

    asyncio.run(main())
