"""What every handler of the web process reaches through its aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from orchestrator.core.clock import Clock
from orchestrator.settings import Settings


@dataclass(frozen=True, slots=True)
class WebContext:
    """The web process's Redis connection, settings and clock (virtual in `simulate`)."""

    redis: Redis
    settings: Settings
    clock: Clock


CTX = web.AppKey("ctx", WebContext)
