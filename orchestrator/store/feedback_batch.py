"""Callbacks that arrive together are counted together: one Redis round trip for many requests."""

from __future__ import annotations

import asyncio
from typing import Final

import structlog

from orchestrator.core.callback_event import MAX_EVENTS, CallbackEvent
from orchestrator.core.clock import Clock
from orchestrator.store.feedback import Counted, FeedbackStore

log = structlog.get_logger("orchestrator.store.feedback_batch")

#: Batches in flight to Redis at once (the process's Redis pool is bounded: store/connection.py).
MAX_FLUSHERS: Final = 4


class BatchedIngest:
    """`ingest` waits until its events are counted, in one script call with whatever else is waiting.

    A request's events are never split across two calls, so a request is counted whole or not at
    all; a failed call fails every request in it (Tencent posts them again: counting is idempotent).
    """

    def __init__(self, store: FeedbackStore, clock: Clock, max_events: int = MAX_EVENTS) -> None:
        self._store = store
        self._clock = clock
        self._max_events = max_events
        self._waiting: list[tuple[list[CallbackEvent], asyncio.Future[Counted]]] = []
        self._flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def ingest(self, events: list[CallbackEvent]) -> Counted:
        done: asyncio.Future[Counted] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, done))
        if self._flushers < MAX_FLUSHERS:
            self._flushers += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    def _take(self) -> list[tuple[list[CallbackEvent], asyncio.Future[Counted]]]:
        """The oldest waiting requests, up to max_events events (always at least one request)."""
        taken: list[tuple[list[CallbackEvent], asyncio.Future[Counted]]] = []
        n = 0
        while self._waiting and (not taken or n + len(self._waiting[0][0]) <= self._max_events):
            item = self._waiting.pop(0)
            taken.append(item)
            n += len(item[0])
        return taken

    async def _flush(self) -> None:
        try:
            while taken := self._take():
                events = [e for batch, _ in taken for e in batch]
                try:
                    counted = await self._store.ingest(events, self._clock.now())
                except Exception as exc:  # handed to every waiting request, which answers 5xx
                    for _, done in taken:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                if counted.refused:
                    log.warning("suppression_not_written", reason="older suppression key layout", n=counted.refused)
                for _, done in taken:
                    if not done.done():
                        done.set_result(counted)
        finally:
            self._flushers -= 1
