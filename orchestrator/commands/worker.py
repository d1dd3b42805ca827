"""`orchestrate worker`: an arq worker for the send jobs (the Procfile's `worker` process)."""

from __future__ import annotations

import click


@click.command("worker")
def command() -> None:
    """Run a send worker until SIGTERM/Ctrl-C (running sends finish first).

    The same as `arq workers.WorkerSettings`, with a worker that also survives a Redis restart
    landing while it starts a job.
    """
    from arq.worker import get_kwargs

    from workers.settings import WorkerSettings
    from workers.worker import ResilientWorker

    ResilientWorker(**get_kwargs(WorkerSettings)).run()  # type: ignore[arg-type]
