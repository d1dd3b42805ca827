"""`up` runs the pacer and the worker as tasks beside the web process: one that ends early ends `up`."""

from __future__ import annotations

import asyncio

from orchestrator.up import _first_to_end, _outcome


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fails() -> None:
    await asyncio.sleep(0.01)
    raise RuntimeError("lost")


async def test_a_part_that_ends_first_is_named() -> None:
    """A pacer task that died used to leave `up` running on, sending nothing: it is named, and its error kept."""
    stop = asyncio.Event()
    parts = {"pacer": asyncio.create_task(_fails()), "worker": asyncio.create_task(_forever())}
    assert await asyncio.wait_for(_first_to_end(stop, parts), 5) == "pacer"
    failure = await _outcome(parts["pacer"])
    assert isinstance(failure, RuntimeError)
    assert str(failure) == "lost"
    parts["worker"].cancel()
    assert await _outcome(parts["worker"]) is None


async def test_stop_ends_the_wait_with_no_part_named() -> None:
    stop = asyncio.Event()
    parts = {"pacer": asyncio.create_task(_forever()), "worker": asyncio.create_task(_forever())}
    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(_first_to_end(stop, parts), 5) is None
    for task in parts.values():
        task.cancel()
        assert await _outcome(task) is None
