"""Drive the real pipeline on the virtual clock with Tencent's callbacks reaching the real callback route."""

from __future__ import annotations

from orchestrator.ses.client import TencentSender
from orchestrator.simulation.virtual_run import VirtualRun
from tests.callback_app import callback_server
from tests.pipeline_harness import Pipeline, settings_for

FLUSH_EVERY_S = 20.0
CHUNK_S = 600.0


async def drive(pipe: Pipeline, seconds: float) -> None:
    """Run the real pipeline for `seconds` of virtual time, posting Tencent's due events as time passes.

    The run jumps its clock to the next instant a grant can succeed; driving it in chunks lets the
    events due meanwhile (opens, complaints come hours later) reach the callback route on time.
    """
    last = [pipe.clock.now()]

    async def post_due(_report: object) -> None:
        if pipe.clock.now() - last[0] >= FLUSH_EVERY_S:
            last[0] = pipe.clock.now()
            await pipe.emu.flush_callbacks()

    end = pipe.clock.now() + seconds
    async with (
        callback_server(pipe.redis, pipe.clock) as server,
        TencentSender(settings_for(pipe.emu)) as sender,
        VirtualRun(pipe.redis_url, pipe.clock, sender, workers=2) as run,
    ):
        pipe.emu.world.callback_url = server.url
        while pipe.clock.now() < end:
            until = min(end, pipe.clock.now() + CHUNK_S)
            await run.run_until(until, on_step=post_due)
            await pipe.emu.flush_callbacks()
            if pipe.clock.now() < until:
                return  # nothing left to do: every campaign paused or finished
