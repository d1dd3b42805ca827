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

from orchestrator.commands._common import clock_now, resolve_campaign, run
from orchestrator.commands.logs import event_line
from orchestrator.commands.status import render_status
from orchestrator.core.text import printable
from orchestrator.status import CampaignStatus, campaign_status
from orchestrator.store import events

WARN_TYPES = ("send_failed", "send_in_doubt", "campaign_paused", "identity_stopped_today", "in_doubt_unresolved")


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
    type=click.FloatRange(0.2, 3600),
    help="Seconds between refreshes (0.2 to 3600).",
)
@click.pass_context
def command(ctx: click.Context, campaign: str, interval: float) -> None:
    """Follow CAMPAIGN live: progress bars per identity, recent outcomes, warnings (Ctrl-C leaves)."""

    async def body(redis: Redis) -> None:
        cid = await resolve_campaign(redis, campaign)
        recent: list[str] = []
        warnings: list[str] = []
        after = ""  # the newest event read; "": none yet (start from the newest, not the stream's start)
        with Live(Text("loading..."), refresh_per_second=4, transient=False) as live:
            while True:
                st = await campaign_status(redis, cid, await clock_now(redis))
                if after:
                    batch = await events.read(redis, None, after=after, count=2000)
                else:
                    batch = list(reversed(await events.recent(redis, 2000)))
                if batch:
                    after = batch[-1].id
                for e in batch:
                    if e.campaign != cid:
                        continue
                    line = event_line(e)
                    recent.append(line)
                    if e.type in WARN_TYPES:
                        warnings.append(line)
                recent, warnings = recent[-8:], warnings[-5:]
                if st is not None:
                    parts: list[RenderableType] = [render_status(st), _bars(st), Text("recent", style="bold")]
                    parts += [Text(r, style="dim") for r in recent] or [Text("  (nothing yet)", style="dim")]
                    if warnings:
                        parts.append(Text("warnings", style="bold yellow"))
                        parts += [Text(w, style="yellow") for w in warnings]
                    live.update(Group(*parts))
                await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        run(ctx, body)
