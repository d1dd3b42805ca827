"""`orchestrate pacer`: the process that grants sends just in time (one active at a time)."""

from __future__ import annotations

import asyncio

import click
from redis.exceptions import RedisError

from orchestrator.commands._common import CommandError, require_keeping, require_redis, stop_on_signals
from orchestrator.store.connection import error_text
from workers.pacer import serve_pacer


@click.command("pacer")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Run the pacer: grants sends to the plan and re-enqueues lost ones (Ctrl-C stops it)."""

    async def main() -> None:
        # A Redis that refuses us (a wrong password, nothing listening) is one line, not a traceback.
        await require_redis(ctx.obj.settings.redis_url)
        await require_keeping(ctx.obj.settings.redis_url)  # never on a Redis that evicts keys
        with stop_on_signals() as stop:
            try:
                await serve_pacer(ctx.obj.settings, stop)
            except RedisError as exc:  # retries exhausted: Redis gone for longer than a restart
                raise CommandError(f"Redis error: {error_text(exc)}") from None

    asyncio.run(main())
