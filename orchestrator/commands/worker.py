"""`orchestrate worker`: an arq worker for the send jobs (the Procfile's `worker` process)."""

from __future__ import annotations

import asyncio

import click


@click.command("worker")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Run a send worker until SIGTERM/Ctrl-C (running sends finish first).

    The same as `arq workers.WorkerSettings`, with a worker that also survives a Redis restart
    landing while it starts a job.
    """
    from redis.exceptions import RedisError

    from orchestrator.commands._common import CommandError, require_keeping
    from orchestrator.settings import settings_or_exit
    from orchestrator.store.connection import describe_failure, nothing_listens, probe
    from workers.settings import process_options
    from workers.worker import ResilientWorker

    url = ctx.obj.settings.redis_url
    # A Redis not up yet is waited for (arq retries its first connect); one that refuses us is not.
    failure = asyncio.run(probe(url))
    if failure is not None and not nothing_listens(failure):
        raise CommandError(describe_failure(url, failure))
    if failure is None:  # never on a Redis that evicts keys (one not up yet is judged by the pacer and submit)
        asyncio.run(require_keeping(url))
    try:
        # The worker runs on the environment's settings, exactly as `arq workers.WorkerSettings` does.
        options = process_options(settings_or_exit())
        ResilientWorker(**options).run()
    except (RedisError, OSError) as exc:  # arq gave up on its connects
        raise CommandError(describe_failure(url, exc)) from None
