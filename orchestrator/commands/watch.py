"""`orchestrate watch CAMPAIGN`: a live view, refreshed every second, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib

import click
from redis.asyncio import Redis
from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.cli import FiniteFloatRange
from orchestrator.commands._common import clock_now, report_console, resolve_campaign, run_live
from orchestrator.commands.logs import LogScope, event_line, log_scope
from orchestrator.commands.status import render_status
from orchestrator.core.text import printable
from orchestrator.status import CampaignStatus, campaign_status, stale_after
from orchestrator.store import events

#: States a campaign never leaves: `watch` shows the last frame and ends.
FINAL_STATES = ("completed", "cancelled")
WARN_TYPES = (
    "send_failed",
    "send_in_doubt",
    "campaign_paused",
    "identity_stopped_today",
    "in_doubt_unresolved",
    "guardrail_warning",
)
#: At start, how far back the shared stream is read for the campaign's last events (other campaigns'
#: events between them are passed over), in pages of LOOK_BACK_PAGE.
LOOK_BACK, LOOK_BACK_PAGE = 50_000, 5_000


def _bars(st: CampaignStatus) -> Table:
    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("identity")
    table.add_column("last 60 min", width=34)
    table.add_column("today", width=34)
    for i in st.identities:
        table.add_row(
            Text(printable(i.id)),  # a Text: a str cell would be read as rich markup
            Group(
                ProgressBar(total=max(i.hourly_cap, 1), completed=i.sent_last_hour, width=24),
                Text(f"{i.sent_last_hour:,}/{i.hourly_cap:,}"),
            ),
            Group(
                ProgressBar(total=max(i.daily_cap, 1), completed=i.sent_today, width=24),
                Text(f"{i.sent_today:,}/{i.daily_cap:,}"),
            ),
        )
    total = max(st.progress["total"], 1)
    table.add_row(
        "campaign",
        "",
        Group(
            ProgressBar(total=total, completed=st.progress["accepted"], width=24),
            Text(f"{st.progress['accepted']:,}/{st.progress['total']:,}"),
        ),
    )
    return table


@click.command("watch")
@click.argument("campaign")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=FiniteFloatRange(0.2, 3600),
    help="Seconds between refreshes (0.2 to 3600).",
)
@click.pass_context
def command(ctx: click.Context, campaign: str, interval: float) -> None:
    """Follow CAMPAIGN live: progress bars per identity, recent events, warnings (Ctrl-C leaves)."""

    async def body(redis: Redis) -> None:
        cid = await resolve_campaign(redis, campaign)
        feed = _Feed(await log_scope(redis, cid))
        stale = stale_after(ctx.obj.settings.pacer_interval_s)
        console = report_console()
        # Not a terminal (a pipe, a file): a frame per refresh, printed one after the other, instead
        # of a live view that would show only when it stops.
        live_view = console.is_terminal
        with (
            Live(Text("loading..."), console=console, refresh_per_second=4, transient=False)
            if live_view
            else contextlib.nullcontext() as live
        ):
            while True:
                st = await campaign_status(redis, cid, await clock_now(redis), stale)
                await feed.read(redis)
                if st is not None:
                    frame = feed.frame(st)
                    if live is not None:
                        live.update(frame)
                    else:
                        console.print(frame)
                if st is None or st.state in FINAL_STATES:  # nothing more will change: the last frame stays
                    if st is not None:
                        console.print(Text(printable(f"{st.name}: {st.state}"), style="bold"))
                    return
                await asyncio.sleep(interval)

    run_live(ctx, body)


class _Feed:
    """The campaign's recent events and warnings, read from the stream a batch at a time."""

    def __init__(self, scope: LogScope) -> None:
        self.scope = scope  # its own events, and its identities' while it runs (as `logs` shows them)
        self.recent: list[str] = []
        self.warnings: list[str] = []
        self.after = ""  # the newest event read; "": none yet (start from the newest, not the stream's start)

    async def read(self, redis: Redis) -> None:
        batch = await events.read(redis, None, after=self.after, count=2000) if self.after else await self._last(redis)
        if batch:
            self.after = batch[-1].id
        for e in batch:
            if not self.scope.shows(e):
                continue
            line = event_line(e, self.scope.zone)
            self.recent.append(line)
            if e.type in WARN_TYPES:
                self.warnings.append(line)
        self.recent, self.warnings = self.recent[-8:], self.warnings[-5:]

    async def _last(self, redis: Redis) -> list[events.Event]:
        """At start: the stream's newest entries back to the campaign's last 8 events (at most LOOK_BACK),
        oldest first: a busy stream of other campaigns' events no longer hides them."""
        found: list[events.Event] = []
        before = "+"
        for _ in range(LOOK_BACK // LOOK_BACK_PAGE):
            page = await events.recent(redis, LOOK_BACK_PAGE, before)
            found += page
            if len(page) < LOOK_BACK_PAGE or sum(map(self.scope.shows, found)) >= 8:
                break
            before = page[-1].id
        return found[::-1]

    def frame(self, st: CampaignStatus) -> Group:
        parts: list[RenderableType] = [render_status(st), _bars(st), Text("recent", style="bold")]
        parts += [Text(r, style="dim") for r in self.recent] or [Text("  (nothing yet)", style="dim")]
        if self.warnings:
            parts.append(Text("warnings", style="bold yellow"))
            parts += [Text(w, style="yellow") for w in self.warnings]
        return Group(*parts)
