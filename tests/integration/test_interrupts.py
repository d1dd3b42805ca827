"""Ctrl-C never ends in a traceback: a command stopped by one ignores the next to the exit.

When an event loop closes it hands SIGINT back to Python's own handler; a second Ctrl-C (a double press;
`timeout -s INT` delivers two) could then land in a finalizer on the way out, where Python prints it as
"Exception ignored ... KeyboardInterrupt" with a traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import click
import pytest
from redis.asyncio import Redis

from orchestrator.cli import AppContext
from orchestrator.commands._common import cancel_on, run, stop_on_signals
from orchestrator.settings import Settings
from tests.redis_server import RedisServer


@pytest.fixture(autouse=True)
def _python_handler_back() -> Iterator[None]:
    """Each test starts with Python's own Ctrl-C handler and leaves it as it found it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _handler_after(main: Callable[[], Coroutine[Any, Any, None]]) -> object:
    asyncio.run(main())
    return signal.getsignal(signal.SIGINT)


def test_a_host_stopped_by_ctrl_c_ignores_the_next_one_to_the_exit() -> None:
    """Up, the pacer and the web process: after a Ctrl-C stopped them, another one is ignored, not raised."""

    async def host() -> None:
        with stop_on_signals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(stop.wait(), 5)

    assert _handler_after(host) is signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGINT)  # with Python's handler this would raise KeyboardInterrupt here


def test_a_host_that_ends_on_its_own_leaves_ctrl_c_to_python() -> None:
    """No signal came: Ctrl-C after the loop is Python's again (it interrupts whatever runs next)."""

    async def host() -> None:
        with stop_on_signals() as stop:
            assert not stop.is_set()

    assert _handler_after(host) is signal.default_int_handler


def _context(redis_url: str) -> click.Context:
    settings = Settings(_env_file=None, REDIS_URL=redis_url)
    return click.Context(click.Command("probe"), obj=AppContext(settings=settings))


def test_a_command_ctrl_c_stopped_ignores_the_next_one_to_the_exit(redis_server: RedisServer) -> None:
    """`run` (status, watch, logs, submit, ...): cancelled by Ctrl-C, it cleans up, then ignores the next one."""

    async def body(redis: Redis) -> None:
        await redis.ping()
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(30)

    with _context(redis_server.url) as ctx, pytest.raises(KeyboardInterrupt):
        run(ctx, body)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_command_that_ends_on_its_own_leaves_ctrl_c_to_python(redis_server: RedisServer) -> None:
    async def body(redis: Redis) -> bool:
        return bool(await redis.ping())

    with _context(redis_server.url) as ctx:
        assert run(ctx, body) is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_command_sigterm_stopped_ignores_a_ctrl_c_after_it(redis_server: RedisServer) -> None:
    """Stopped by SIGTERM (`submit`, `export`, `trace` take it as Ctrl-C), a Ctrl-C right after no longer
    turns the exit code from 143 into 130 as the command leaves."""

    async def body(redis: Redis) -> None:
        cancel_on(signal.SIGTERM, [])
        await redis.ping()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(30)

    with _context(redis_server.url) as ctx, pytest.raises(asyncio.CancelledError):
        run(ctx, body)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
