"""`simulate`: the real pipeline on a virtual clock against the in-process SES emulator, with a report.

Same pacer, limiter, Lua scripts, arq jobs, ledger and Tencent adapter as production; only the
clock is virtual, Redis is a throwaway embedded one, and Tencent is the local emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from orchestrator.core.calendar import start_of
from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import VirtualClock
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.embedded import EmbeddedRedis
from orchestrator.logging_setup import stamped_by
from orchestrator.pacing import PacerConfig, TickReport
from orchestrator.ses.client import TencentSender
from orchestrator.ses.emulator import RunningEmulator, run_emulator
from orchestrator.settings import Settings
from orchestrator.simulation.budget import VirtualCallBudget
from orchestrator.simulation.outputs import DayRecorder, Finished, api_calls, summarise, write_outputs
from orchestrator.simulation.sample import sample_campaign, sample_note
from orchestrator.simulation.timeline import read_timeline
from orchestrator.simulation.virtual_run import VirtualRun
from orchestrator.simulation.world import account_pairs, build_world
from orchestrator.store import keys
from orchestrator.store.api_stats import ApiCallStats
from orchestrator.store.connection import redis_from_url
from orchestrator.store.feedback import FeedbackStore
from orchestrator.submit import submit
from orchestrator.web.app import running_web
from orchestrator.web.context import WebContext


@dataclass
class SimHooks:
    """What a caller (the soak test) runs inside a simulation, on its Redis and virtual clock.

    `on_step(redis, cid, now)` after each instant; `on_end(redis, cid, run)` after the last one, while
    the run's Redis and pacer are still up; `config` for the pacer (retention, reconciliation);
    `awaited()` True keeps an idle run going (a paused campaign the caller resumes later).
    """

    on_step: Callable[[Any, str, float], Awaitable[None]] | None = None
    on_end: Callable[[Any, str, VirtualRun], Awaitable[None]] | None = None
    config: PacerConfig | None = None
    awaited: Callable[[], Awaitable[bool]] | None = None


@dataclass
class SimulationResult:
    out: Path
    campaign_id: str
    summary: dict[str, Any]
    redis_url: str = ""


def _period(spec: Campaign, today: date, days: int) -> tuple[float, float]:
    """The run's first and last instants: local midnight of its first day and of the day after its last
    (a day of a daylight-saving change is 23 or 25 hours long: N days are not N x 86,400 s)."""
    first = spec.simulation.start or spec.start or today
    return start_of(first, spec.zone), start_of(first + timedelta(days=days), spec.zone)


async def run_simulation(
    spec: Campaign,
    out: Path,
    days: int = 30,
    speed: float | None = None,
    sample: float | None = None,
    today: date | None = None,
    workers: int = 1,
    progress: Any = None,
    on_start: Any = None,
    hooks: SimHooks | None = None,
) -> SimulationResult:
    """Run the campaign for `days` virtual days and write report.html, summary.json, sends.jsonl."""
    if sample is not None and not 0 < sample <= 1:  # also refuses nan
        msg = f"the sample must be a fraction in (0, 1], got {sample}"
        raise ValueError(msg)
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before the run: nothing else is on the loop yet
    note = ""
    if sample is not None and sample < 1:
        spec = sample_campaign(spec, sample, out)
        note = sample_note(sample, spec.mode)
    start, end = _period(spec, today or date.today(), days)  # noqa: DTZ011 - a default for the report's calendar only
    clock = VirtualClock(start)
    wall0 = time.perf_counter()
    with stamped_by(clock), EmbeddedRedis() as redis_server:
        async with run_emulator(build_world(spec), clock=clock, send_log_path=None) as emu:
            settings = _settings(redis_server.url, emu.url, account_pairs(spec))
            redis = redis_from_url(redis_server.url)
            sender = TencentSender(settings, stats=ApiCallStats(redis), budget=VirtualCallBudget(clock))
            web = contextlib.AsyncExitStack()
            try:
                await _start_web(web, WebContext(redis, settings, clock), emu)
                fingerprint = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
                result = await submit(redis, spec, fingerprint, start, "simulate")
                cid = result.campaign_id
                if speed:
                    await redis.set(keys.VIRTUAL_NOW, repr(start))
                if on_start is not None:
                    on_start(redis_server.url, cid)
                recorder, hooks = DayRecorder(spec), hooks or SimHooks()
                vr = VirtualRun(
                    redis_server.url, clock, sender, hooks.config, workers, job_timeout_s=settings.job_timeout_s
                )
                vr.awaited, vr.callbacks = hooks.awaited, emu
                async with vr as run:
                    step = _stepper(redis, recorder, clock, (start, end), speed, progress, (cid, hooks))
                    await run.run_until(end, on_step=step)
                    if hooks.on_end is not None:
                        await hooks.on_end(redis, cid, run)
                finished = await _finish(emu, redis, spec, cid, recorder, clock, (start, end), note)
                summary = finished.summary
                summary["wall_seconds"] = round(time.perf_counter() - wall0, 2)
                summary["steps"] = run.stats.ticks
                await write_outputs(out, finished)
            finally:
                await web.aclose()
                await sender.close()
                await redis.aclose()
    return SimulationResult(out, cid, summary)


async def _finish(
    emu: RunningEmulator,
    redis: Any,
    spec: Campaign,
    cid: str,
    recorder: DayRecorder,
    clock: VirtualClock,
    period: tuple[float, float],
    note: str,
) -> Finished:
    """After the run: the last callbacks in, the summary made, everything the outputs need."""
    start, end = period
    await emu.flush_callbacks()  # what is due at the end reaches the web process too
    await FeedbackStore(redis).retry_early(clock.now())  # events that came before their send
    posted = emu.poster.delivered  # what the web process accepted; later events never came
    timeline = await read_timeline(redis, cid, [i.id for i in spec.identities], spec.zone)
    summary = await summarise(redis, cid, spec, recorder, emu.send_log, posted, note, timeline)
    summary["emulator_events_after_end"] = sum(e["timestamp"] > clock.now() for e in emu.events)
    summary["api_calls"] = api_calls(emu.call_log, emu.world.account_rate_per_s)
    summary["virtual_days"] = round((clock.now() - start) / 86400, 2)
    return Finished(
        spec, summary, emu.send_log, emu.events, redis, cid, recorder, start, end, note, timeline, clock.now()
    )


class RunSettings(Settings):
    """Settings made only of what they are given and the defaults: never the environment or a credentials
    file, so no configured key pair, token or Redis password reaches a simulation or its outputs."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, *_: Any, **__: Any) -> tuple[Any, ...]:
        del settings_cls
        return (init_settings,)


def _settings(redis_url: str, ses_url: str, pairs: dict[str, tuple[str, str]]) -> Settings:
    """The run's settings: its throwaway Redis, the emulator's accounts, a callback token of its own."""
    return RunSettings(
        REDIS_URL=redis_url,
        TENCENTCLOUD_SECRET_ID=SecretStr(pairs[DEFAULT_ACCOUNT][0]),
        TENCENTCLOUD_SECRET_KEY=SecretStr(pairs[DEFAULT_ACCOUNT][1]),
        ORCHESTRATE_ACCOUNTS={
            n: {"secret_id": i, "secret_key": k} for n, (i, k) in pairs.items() if n != DEFAULT_ACCOUNT
        },
        SES_ENDPOINT=ses_url,
        CALLBACK_TOKEN=SecretStr(secrets.token_urlsafe(24)),
        WEB_HOST="127.0.0.1",
        WEB_PORT=0,
    )


async def _start_web(stack: contextlib.AsyncExitStack, ctx: WebContext, emu: RunningEmulator) -> None:
    """The web process's app in this process (closed with `stack`), on the virtual clock; the emulator's
    callbacks go there when their time comes on that clock, so a simulation goes through the same code."""
    web = await stack.enter_async_context(running_web(ctx))
    token = ctx.settings.callback_token
    if token is not None:
        emu.world.callback_url = f"{web.url}/callbacks/tencent/{token.get_secret_value()}"


def _stepper(
    redis: Any,
    recorder: DayRecorder,
    clock: VirtualClock,
    period: tuple[float, float],
    speed: float | None,
    progress: Any,
    caller: tuple[str, SimHooks],
) -> Any:
    (start, end), (cid, hooks) = period, caller
    wall_start = time.perf_counter()
    last_publish = [0.0]

    async def on_step(report: TickReport) -> None:
        now = clock.now()
        await recorder.observe(redis, now)
        if hooks.on_step is not None:
            await hooks.on_step(redis, cid, now)
        if progress is not None:
            progress((now - start) / max(end - start, 1))
        if speed:
            if now - last_publish[0] >= 1.0:
                await redis.set(keys.VIRTUAL_NOW, repr(now))
                last_publish[0] = now
            ahead = (now - start) / speed - (time.perf_counter() - wall_start)
            if ahead > 0:
                await asyncio.sleep(min(ahead, 1.0))
        del report

    return on_step
