"""A small web app serving the callback route on a free port, for tests and the benchmark."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.clock import Clock
from orchestrator.settings import Settings
from orchestrator.web.callbacks import add_callback_routes
from orchestrator.web.context import CTX, WebContext

TOKEN = "callback-token-0123456789abcdef"  # a test-only token


@dataclass(frozen=True, slots=True)
class CallbackServer:
    base: str  # http://127.0.0.1:PORT

    @property
    def url(self) -> str:
        """The callback URL with the right token."""
        return f"{self.base}/callbacks/tencent/{TOKEN}"


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port until the block exits; yields http://127.0.0.1:PORT."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def callback_server(redis: Redis, clock: Clock, token: str | None = TOKEN) -> AsyncIterator[CallbackServer]:
    """Serve the callback route of a web app sharing `redis` and `clock` until the block exits."""
    settings = Settings(_env_file=None, CALLBACK_TOKEN=SecretStr(token) if token else None)
    app = web.Application()
    app[CTX] = WebContext(redis, settings, clock)
    add_callback_routes(app)
    async with serve(app) as base:
        yield CallbackServer(base)
