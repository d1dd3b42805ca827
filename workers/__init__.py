"""The arq side: `arq workers.WorkerSettings` runs the send jobs the pacer enqueues."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Built on first use, from the settings: importing `workers` reads no settings.
    if name == "WorkerSettings":
        from workers.settings import worker_settings_class

        return worker_settings_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
