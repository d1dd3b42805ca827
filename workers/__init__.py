"""The arq side: `arq workers.WorkerSettings` runs the send jobs the pacer enqueues."""

from workers.settings import WorkerSettings

__all__ = ["WorkerSettings"]
