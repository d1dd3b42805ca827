"""What the Redis-backed commands share: running a coroutine, a reachable Redis, a campaign reference."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.cli import EXIT_FAILED, EXIT_USAGE, AppContext, echo_error
from orchestrator.store import campaigns, identities
from orchestrator.store.connection import describe_failure, nothing_listens, probe, redis_from_url

T = TypeVar("T")


class CommandError(click.ClickException):
    """A user-facing failure: printed as one line, no traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        echo_error(f"error: {self.format_message()}")


def run_until_interrupted(ctx: click.Context, body: Callable[[Redis], Awaitable[None]]) -> None:
    """Run a live command's `body` (`watch`, `logs --follow`) until it returns or Ctrl-C ends it.

    Ctrl-C cancels the body, and cancels it again every half second until it has ended: a
    cancellation that lands inside a Redis call can be lost there (the call is retried and the loop
    goes on), which left such a command running after Ctrl-C.
    """

    async def interruptible(redis: Redis) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def interrupt() -> None:
            if not task.done():
                task.cancel()
                loop.call_later(0.5, interrupt)

        try:
            loop.add_signal_handler(signal.SIGINT, interrupt)
        except (RuntimeError, ValueError):  # not the main thread (run in-process by a caller): no Ctrl-C
            await body(redis)
            return
        try:
            await body(redis)
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        run(ctx, interruptible)


def run(ctx: click.Context, body: Callable[[Redis], Awaitable[T]]) -> T:
    """Run `body` with a Redis client for the configured REDIS_URL; a dead Redis is a clear error."""
    app: AppContext = ctx.obj
    url = app.settings.redis_url

    async def main() -> T:
        await require_redis(url)
        redis = redis_from_url(url, socket_connect_timeout=3)
        try:
            return await body(redis)
        except RedisError as exc:
            raise CommandError(f"Redis error: {exc}") from None
        except (campaigns.UnreadableCampaignError, identities.UnreadableIdentityError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def require_redis(url: str) -> None:
    """Raise a one-line CommandError (the password masked) unless the Redis at `url` answers."""
    failure = await probe(url)
    if failure is None:
        return
    msg = describe_failure(url, failure)
    if nothing_listens(failure):
        msg += "; set REDIS_URL or run `orchestrate up`"
    raise CommandError(msg)


async def resolve_campaign(redis: Redis, ref: str) -> str:
    cid = await campaigns.resolve(redis, ref)
    if cid is None:
        msg = f"no campaign {ref!r} (see `orchestrate status` for the list)"
        raise CommandError(msg, EXIT_USAGE)
    return cid


async def clock_now(redis: Redis) -> float:
    """Now: the wall clock, or the virtual time a running `simulate --speed` publishes in its Redis."""
    from orchestrator.core.clock import SystemClock
    from orchestrator.store.keys import VIRTUAL_NOW

    virtual = await redis.get(VIRTUAL_NOW)
    return float(virtual) if virtual else SystemClock().now()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=None) + "\n")
