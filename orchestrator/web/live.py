"""What the page, /status.json, /metrics and /healthz read: the status `status --json` prints, events, the pacer."""

from __future__ import annotations

from typing import Any

from orchestrator import status
from orchestrator.core.timeline import Mark, marks_of
from orchestrator.status import all_status
from orchestrator.store import campaigns, events
from orchestrator.web.context import WebContext


async def status_json(ctx: WebContext) -> list[dict[str, Any]]:
    """The campaigns' status at the context's clock: the very list `orchestrate status --json` prints (the
    unfinished ones and the `campaigns.FINISHED_SHOWN` that finished last)."""
    return (await listed_status(ctx))[0]


async def listed_status(ctx: WebContext) -> tuple[list[dict[str, Any]], int]:
    """`status_json`, and how many older finished campaigns it leaves out."""
    stale = status.stale_after(ctx.settings.pacer_interval_s)
    ids, left_out = await campaigns.listed(ctx.redis)
    return [st.as_json() for st in await all_status(ctx.redis, ctx.clock.now(), stale, ids)], left_out


async def pacer_tick_age(ctx: WebContext) -> float | None:
    """Seconds since the pacer's last tick (by the context's clock); None when it never ticked or the value is bad."""
    return await status.pacer_tick_age(ctx.redis, ctx.clock.now())


#: The live page draws the guardrail and shaping marks found among this many newest events.
MARK_SCAN = 5000


async def recent(ctx: WebContext, rows: int) -> tuple[list[events.Event], list[Mark]]:
    """One read of the stream: its newest `rows` events (newest first) and the guardrail and shaping
    marks (core/timeline.py) of the newest MARK_SCAN."""
    newest = await events.recent(ctx.redis, max(rows, MARK_SCAN))
    return newest[:rows], marks_of(e for e in newest if not e.unreadable)
