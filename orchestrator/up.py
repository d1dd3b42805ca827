"""`orchestrate up`: Redis (the configured one, or an embedded one), workers and the pacer in one process."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.core.campaign_state import UNFINISHED
from orchestrator.core.clock import SystemClock
from orchestrator.core.endpoint import sending_target
from orchestrator.embedded import EmbeddedRedis
from orchestrator.redis_url import safe_url
from orchestrator.settings import Settings
from orchestrator.state_folder import made_state_dir, state_dir
from orchestrator.store import campaigns
from orchestrator.store.connection import describe_failure, error_text, nothing_listens, probe, redis_from_url
from orchestrator.store.ledger import Ledger
from orchestrator.store.server_check import keeping_at
from orchestrator.up_state import sends_nowhere, to_emulator
from orchestrator.web.access import WebAccessError
from orchestrator.web.app import RunningWeb, running_web
from orchestrator.web.context import WebContext
from workers.blocklist import BlocklistSync
from workers.deps import Deps
from workers.pacer import build_pacer, pacer_config, run_pacer
from workers.settings import build_worker
from workers.worker import ResilientWorker

if TYPE_CHECKING:
    from orchestrator.core.sending import Sender
    from orchestrator.ses.emulator import RunningEmulator

log = structlog.get_logger("orchestrator.up")

#: The embedded Redis listens here, so other terminals can reach it (recorded in the state folder too).
EMBEDDED_REDIS_PORT = 6390
EMULATOR_PORT = 8765


class UpError(Exception):
    """`up` cannot start; the message is one line for the user (no password in it)."""


class StateDirError(UpError):
    """`up`'s state folder (ORCHESTRATE_STATE_DIR) cannot be made or written: a setting to change."""


def _prepared_state_dir(settings: Settings) -> Path:
    """The state folder, made if missing and found writable: before anything starts, so nothing is left
    half started by a folder that cannot hold what `up` records."""
    folder = state_dir(settings)
    try:
        made_state_dir(settings)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:  # no such parent (/proc), a file in its place or above it, no permission
        reason = "it is a file, not a folder" if folder.is_file() else exc.strerror or type(exc).__name__
        if settings.state_dir:
            msg = f"ORCHESTRATE_STATE_DIR: cannot use {folder} as up's state folder ({reason})"
        else:
            msg = f"cannot use {folder} as up's state folder ({reason}): set ORCHESTRATE_STATE_DIR to another"
        raise StateDirError(msg) from None
    return folder


def _record(path: Path, url: str) -> None:
    """Write the URL by which other terminals find what `up` started (up_state.py reads it)."""
    try:
        path.write_text(url + "\n", encoding="utf-8")
    except OSError as exc:  # a folder in its place, no permission
        raise StateDirError(
            f"cannot write {path} in up's state folder ({exc.strerror or type(exc).__name__})"
        ) from None


def may_embed(settings: Settings, port: int) -> bool:
    """Whether `up` may start its own Redis where none listens: only where the user named no other.

    That is REDIS_URL unset (the default URL), or REDIS_URL naming the embedded Redis itself (the
    URL `up` tells other terminals to export). A Redis the user chose is never replaced by an empty one.
    """
    return "redis_url" not in settings.model_fields_set or settings.redis_url == EmbeddedRedis(port=port).url


@dataclass
class UpInfo:
    redis_url: str
    embedded_redis: bool
    ses_endpoint: str | None
    emulator: bool
    web_url: str = ""
    callbacks: bool = False
    #: The campaigns this Redis holds unfinished, with their state: the running ones go on at once.
    unfinished: tuple[tuple[str, str], ...] = ()


@contextlib.asynccontextmanager
async def _redis(settings: Settings, port: int) -> AsyncIterator[tuple[str, bool]]:
    failure = await probe(settings.redis_url)
    if failure is None:
        kept = await keeping_at(settings.redis_url)
        if (refusal := kept.refusal(settings.redis_url)) is not None:  # never on a Redis that evicts keys
            raise UpError(refusal)
        if (warning := kept.warning(settings.redis_url)) is not None:
            log.warning("redis_not_durable", detail=warning)
        yield settings.redis_url, False
        return
    if not (nothing_listens(failure) and may_embed(settings, port)):
        msg = describe_failure(settings.redis_url, failure)
        if nothing_listens(failure):
            msg += " (REDIS_URL): start that Redis, or unset REDIS_URL for an embedded one"
        raise UpError(msg)
    folder = state_dir(settings)
    server = EmbeddedRedis(workdir=folder / "redis", persistent=True, port=port)
    await asyncio.to_thread(server.start)
    url_file = folder / "redis.url"
    try:
        _record(url_file, server.url)
    except StateDirError:
        await asyncio.to_thread(server.stop)
        raise
    try:
        yield server.url, True
    finally:
        url_file.unlink(missing_ok=True)
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def _emulator(
    settings: Settings, wanted: bool, port: int
) -> AsyncIterator[tuple[Settings, RunningEmulator | None]]:
    """The settings to send with, and the running emulator (None when not wanted)."""
    if not wanted:
        yield settings, None
        return
    from orchestrator.ses.emulator import LogFileError, permissive_world, run_emulator

    send_log = state_dir(settings) / "emulator-sends.jsonl"
    url_file = state_dir(settings) / "emulator.url"
    stack = contextlib.AsyncExitStack()
    try:
        emu = await stack.enter_async_context(
            run_emulator(permissive_world(accounts=settings.accounts), port=port, send_log_path=send_log)
        )
    except LogFileError as exc:  # a folder in its place, no permission
        await stack.aclose()
        raise StateDirError(f"cannot write the emulator's send log {exc.path} ({exc.reason})") from None
    except OSError as exc:  # the port is taken (by a running `orchestrate emulator`?)
        await stack.aclose()
        msg = f"cannot start the local SES emulator on port {port} ({exc.strerror or 'in use'}): stop what uses it"
        raise UpError(msg + " or pass --emulator-port") from None
    async with stack:
        _record(url_file, emu.url)
        try:
            # Its callbacks go to this run's web process: a token of its own unless the user set one.
            token = settings.callback_token or SecretStr(secrets.token_urlsafe(24))
            yield to_emulator(settings, emu.url, callback_token=token), emu
        finally:
            url_file.unlink(missing_ok=True)


def wants_emulator(settings: Settings, flag: bool | None) -> bool:
    """The emulator when asked, or when no Tencent credentials (of any account) and no endpoint are configured."""
    return flag if flag is not None else sends_nowhere(settings)


@contextlib.asynccontextmanager
async def _web(settings: Settings, redis: Redis, emu: RunningEmulator | None) -> AsyncIterator[RunningWeb]:
    """The web process of this run; the local emulator's callbacks are pointed at it."""
    try:
        async with running_web(WebContext(redis, settings, SystemClock())) as web:
            if emu is not None and settings.callback_token is not None:
                emu.world.callback_url = f"{web.url}/callbacks/tencent/{settings.callback_token.get_secret_value()}"
            yield web
    except WebAccessError as exc:
        raise UpError(str(exc)) from None
    except OSError as exc:
        where = f"{settings.web_host}:{settings.web_port}"
        raise UpError(
            f"cannot start the web process on {where} ({exc.strerror or 'in use'}): pass --web-port"
        ) from None


async def serve_all(
    settings: Settings,
    stop: asyncio.Event,
    emulator: bool | None = None,
    redis_port: int = EMBEDDED_REDIS_PORT,
    emulator_port: int = EMULATOR_PORT,
    on_ready: Callable[[UpInfo], None] | None = None,
) -> None:
    """Run until `stop` is set: stop the pacer first, let in-flight sends finish, then the rest."""
    from orchestrator.ses.client import build_sender

    _prepared_state_dir(settings)
    use_emulator = wants_emulator(settings, emulator)
    async with (
        _redis(settings, redis_port) as (url, embedded),
        _emulator(settings, use_emulator, emulator_port) as (with_ses, emu),
    ):
        s = with_ses.model_copy(update={"redis_url": url})
        redis = redis_from_url(url)
        sender = build_sender(s, redis)
        clock = SystemClock()
        deps = _deps(s, redis, sender, clock)
        worker = build_worker(
            ResilientWorker, s.job_timeout_s, s.worker_concurrency, url, ctx={"deps": deps}, handle_signals=False
        )
        try:
            async with _web(s, redis, emu) as web:
                pacer = build_pacer(redis, clock, pacer_config(s), sender=sender)
                pacer_stop = asyncio.Event()
                sync = BlocklistSync(redis, sender, clock, s.blocklist_sync_s)
                pacer_task = asyncio.create_task(
                    run_pacer(pacer, s.pacer_interval_s, s.sweep_interval_s, pacer_stop, sync, s.pacer_lock_ttl_s)
                )
                worker_task = asyncio.create_task(worker.main())
                info = UpInfo(
                    url,
                    embedded,
                    s.ses_endpoint,
                    use_emulator,
                    web.url,
                    s.callback_token is not None,
                    await _unfinished(redis, deps.target),
                )
                log.info(
                    "up_ready", redis_url=safe_url(url), embedded_redis=embedded, emulator=use_emulator, web=web.url
                )
                if on_ready is not None:
                    on_ready(info)
                await _until_stop(stop, (pacer_task, pacer_stop), (worker, worker_task), s.job_timeout_s)
        finally:
            await worker.close()
            await sender.close()
            await redis.aclose()
            log.info("up_stopped")


def _deps(s: Settings, redis: Redis, sender: Sender, clock: SystemClock) -> Deps:
    """The worker's: the pacer's sender shared (it is closed once, by `serve_all`)."""
    return Deps(
        redis=redis,
        ledger=Ledger(redis),
        sender=sender,
        clock=clock,
        lease_s=s.lease_s,
        owns_sender=False,
        reconcile_after_s=s.reconcile_after_s,
        pseudonym_key=s.pseudonym_key(),
        target=sending_target(s.ses_endpoint, s.ses_region),
    )


async def _unfinished(redis: Redis, target: str) -> tuple[tuple[str, str], ...]:
    """The campaigns of this Redis that are running or paused, in submit order, each with its state, and
    where its mail is bound when that is not `target` (its first claim here pauses it)."""
    ids = await campaigns.all_ids(redis)
    out = []
    for cid, record in zip(ids, await campaigns.fields_of(redis, ids, ["state", "target"]), strict=True):
        if record is None or record[0] not in UNFINISHED:
            continue
        state, bound = str(record[0]), record[1]
        elsewhere = bound is not None and bound != target
        out.append((cid, f"{state}, its mail bound to {bound}: paused at its first claim here" if elsewhere else state))
    return tuple(out)


async def _until_stop(
    stop: asyncio.Event,
    pacer: tuple[asyncio.Task[None], asyncio.Event],
    worker: tuple[ResilientWorker, asyncio.Task[None]],
    job_timeout_s: float,
) -> None:
    """Run until `stop`, then stop the pacer first, let in-flight sends finish, then the worker. A pacer or
    worker that ends first ends `up` (UpError naming it): up would have run on, sending nothing."""
    (pacer_task, pacer_stop), (worker_obj, worker_task) = pacer, worker
    try:
        ended = await _first_to_end(stop, {"pacer": pacer_task, "worker": worker_task})
    finally:
        pacer_stop.set()
        pacer_failure = await _outcome(pacer_task)
        await _finish_worker(worker_obj, worker_task, job_timeout_s)
    if ended is not None:
        failure = pacer_failure if ended == "pacer" else await _outcome(worker_task)
        why = f"{type(failure).__name__}: {error_text(failure)}" if failure else "it returned"
        raise UpError(f"the {ended} stopped ({why[:300]}); up stopped everything")


async def _first_to_end(stop: asyncio.Event, parts: dict[str, asyncio.Task[None]]) -> str | None:
    """Wait for `stop`, or for one of `parts` to end first (a failure): its name, else None."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopping, *parts.values()}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    return None if stop.is_set() else next((name for name, t in parts.items() if t.done()), None)


async def _outcome(task: asyncio.Task[None]) -> BaseException | None:
    """The task's end (awaited): the exception it ended with, or None."""
    try:
        await task
    except asyncio.CancelledError:
        return None
    except Exception as exc:  # reported by the caller in one line, never a traceback
        return exc
    return None


async def _finish_worker(worker: ResilientWorker, task: asyncio.Task[None], timeout_s: float) -> None:
    """Let in-flight sends finish (up to `timeout_s`), then stop the worker's loop."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while worker.tasks and any(not t.done() for t in worker.tasks.values()):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    task.cancel()
    await _outcome(task)
