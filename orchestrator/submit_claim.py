"""A submit's hold on what it stages: the claim on its files' fingerprint, and the heartbeat that keeps it alive.

A concurrent submit of the same files waits for the claim; a killed submit's claim and keys expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from hashlib import blake2b
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from orchestrator.store import keys, trace_index
from orchestrator.store.scripts import source as script_source

T = TypeVar("T")

#: The heartbeat refreshes the claim and the staged keys this many times per TTL (every 15 s at 60 s).
BEATS_PER_TTL = 4
#: How often a waiting submit looks again.
WAIT_POLL_S = 0.1
#: A fingerprint key holding this prefix (then a random token) is being submitted right now.
CLAIM_PREFIX = "submitting:"


class SubmitInProgressError(Exception):
    """The same files are being submitted by another process, which did not finish within the wait."""


#: The commit turn: how long it lives without its holder renewing it (a killed submit's turn lapses;
#: a live one renews it BEATS_PER_TTL times per TTL: comparing a large list with the campaigns created
#: while it loaded can take seconds), and how long another waits for it.
TURN_TTL_S = 30.0
TURN_WAIT_S = 60.0


@contextlib.asynccontextmanager
async def commit_turn(redis: Redis) -> AsyncIterator[None]:
    """One submit at a time compares itself with the other campaigns (one identity, one way of pacing it;
    one list, one unfinished campaign) and commits: two submits checked side by side would each pass
    before the other was visible, and both commit."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + TURN_WAIT_S
    while not await redis.set(keys.SUBMIT_TURN, token, nx=True, px=int(TURN_TTL_S * 1000)):
        if time.monotonic() > deadline:
            msg = f"another submit has been committing for over {TURN_WAIT_S:g} s ({keys.SUBMIT_TURN}): try again"
            raise SubmitInProgressError(msg)
        await asyncio.sleep(WAIT_POLL_S / 2)
    keep = asyncio.create_task(_keep_turn(redis, token))
    try:
        yield
    finally:
        keep.cancel()
        with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):  # a failed renewal: it lapses
            await keep
        release = redis.register_script(script_source("lock_release"))
        with contextlib.suppress(RedisError, OSError):  # not released: it lapses after TURN_TTL_S
            await release(keys=[keys.SUBMIT_TURN], args=[token])


async def _keep_turn(redis: Redis, token: str) -> None:
    """Renew the commit turn while its holder still holds it."""
    renew = redis.register_script(script_source("lock_renew"))
    while True:
        await asyncio.sleep(TURN_TTL_S / BEATS_PER_TTL)
        await renew(keys=[keys.SUBMIT_TURN], args=[token, str(int(TURN_TTL_S * 1000))])


class ListDigest:
    """What makes two recipient files one list: the same set of mailboxes as submit reads them (valid,
    normalised, each once, suppressed ones included, compared as `core/addresses.fold` compares them),
    whatever the file's name, line ends, columns or row order. Order-free: the sum of each address's
    hash, so it is built row by row as they load."""

    MOD = 1 << 128
    PREFIX = "addresses:"

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, addresses: Collection[str]) -> None:
        # One sum per batch, reduced once at the end: a modulo per address cost half the time again.
        self.total += sum(int.from_bytes(blake2b(a.encode(), digest_size=16).digest(), "big") for a in addresses)
        self.count += len(addresses)

    def hexdigest(self) -> str:
        return f"{self.PREFIX}{self.count}:{self.total % self.MOD:032x}"


class StagingKeys(keys.CampaignKeys):
    """The keys of a campaign being staged, how long they live without a heartbeat, and its list's digest."""

    def __init__(self, cid: str, ttl_s: float, file_bytes: int = 0) -> None:
        super().__init__(cid)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.trace = trace_index.Staging(cid, trace_index.bucket_count(file_bytes), self.ttl_ms)
        self.listed = ListDigest()

    def staged(self, written: int) -> list[str]:
        """The keys staged once `written` recipients are stored (the queue is written last)."""
        buckets = (written + keys.BUCKET - 1) // keys.BUCKET
        return [f"{self.rec_prefix}{b}" for b in range(buckets)] + self.trace.names() + [self.queue]


async def claim_fingerprint(
    redis: Redis, fingerprint: str, claim: str, ttl_s: float, wait_s: float, on_wait: Callable[[], None] | None
) -> str | None:
    """Claim the files' fingerprint (None), or the id of the campaign already created from them."""
    key = keys.fingerprint(fingerprint)
    ttl_ms = max(1, int(ttl_s * 1000))
    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        if await redis.set(key, claim, nx=True, px=ttl_ms):
            return None
        current = await redis.get(key)
        if current is None:
            continue  # released or expired just now
        if not current.startswith(CLAIM_PREFIX):
            if await redis.exists(keys.campaign(current)):
                return str(current)
            if await _take_over(redis, key, current, claim, ttl_ms):  # it named a campaign now gone
                return None
            continue
        if time.monotonic() >= deadline:
            msg = (
                f"these files are being submitted by another process, still running after {wait_s:g} s; "
                "submit them again later to get its campaign id"
            )
            raise SubmitInProgressError(msg)
        if not waiting and on_wait is not None:
            on_wait()
        waiting = True
        await asyncio.sleep(WAIT_POLL_S)


async def _take_over(redis: Redis, key: str, expected: str, claim: str, ttl_ms: int) -> bool:
    """Replace the fingerprint's value with our claim if it still is `expected`."""
    async with redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(key)
            if await pipe.get(key) != expected:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            pipe.set(key, claim, px=ttl_ms)
            await pipe.execute()
        except WatchError:
            return False
    return True


def honour_cancellation() -> None:
    """Raise CancelledError if this task was cancelled (Ctrl-C, SIGTERM) but the cancellation got lost.

    On Python 3.11, redis-py's hiredis reader turns a cancellation that arrives while it polls the
    socket into the timeout it expected, and carries on: the submit would then run to its end.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def despite_cancels(work: Coroutine[Any, Any, T]) -> T:
    """`work` awaited to its end however often this task is cancelled meanwhile (it is leaving anyway: a
    second Ctrl-C, or `run`'s repeated cancel, must not cut its cleanup short)."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                return task.result()  # `work` itself cancelled (the loop shutting down): that is raised


class Heartbeat:
    """Keeps a running submit's claim and staged keys alive, BEATS_PER_TTL times per TTL."""

    def __init__(self, redis: Redis, fingerprint: str, claim: str, ck: StagingKeys, written: Callable[[], int]) -> None:
        self.redis = redis
        self.key = keys.fingerprint(fingerprint)
        self.claim = claim
        self.ck = ck
        self.written = written
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        beat = self.redis.register_script(script_source("submit_beat"))
        every_s = self.ck.ttl_ms / 1000 / BEATS_PER_TTL
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every_s)
            if self._stop.is_set():
                return
            if not await beat(keys=[self.key, *self.ck.staged(self.written())], args=[self.claim, self.ck.ttl_ms]):
                return  # the claim is gone: the commit will find out and say so

    async def stop(self) -> None:
        """Stop after the beat in progress, so no beat can reach Redis after the commit."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def cancel(self) -> None:
        self._stop.set()  # ends the loop even if the cancellation itself gets lost (see above)
        if self._task is None:
            return
        if not self._task.done():
            self._task.cancel()
        # Awaited even when it has ended: a beat that failed (Redis gone) is collected here, not left to
        # asyncio's "Task exception was never retrieved" traceback at exit.
        with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
            await self._task
