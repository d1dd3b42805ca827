"""`orchestrate logs CAMPAIGN [--follow] [--json]`: the campaign's progress log from the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import datetime

import click
from redis.asyncio import Redis

from orchestrator.commands._common import resolve_campaign, run
from orchestrator.core.text import json_line, printable
from orchestrator.store import campaigns, events
from orchestrator.store.events import Event


def event_line(e: Event) -> str:
    """One readable line for a terminal (escape sequences in the event's data shown, not acted on)."""
    if e.unreadable:
        return printable(f"event {e.id} could not be read ({e.unreadable}) {e.type}".rstrip())
    when = datetime.fromtimestamp(e.t).astimezone().isoformat(timespec="seconds")
    who = f" {e.identity}" if e.identity else ""
    data = " ".join(f"{k}={v}" for k, v in e.data.items())
    return printable(f"{when} {e.type}{who} {data}".rstrip())


@click.command("logs")
@click.argument("campaign")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when stdout is not a terminal).")
@click.pass_context
def command(ctx: click.Context, campaign: str, follow: bool, as_json: bool) -> None:
    """Print CAMPAIGN's progress log: submitted, day advanced, hour summaries, pauses, retries, errors."""
    json_lines = as_json or not sys.stdout.isatty()

    def emit(e: Event) -> None:
        if json_lines:
            sys.stdout.write(json_line(e.as_json()) + "\n")
        else:
            sys.stdout.write(event_line(e) + "\n")
        sys.stdout.flush()

    async def body(redis: Redis) -> None:
        cid = await resolve_campaign(redis, campaign)
        idents = await _identities(redis, cid)
        after = "-"
        while True:
            batch = await events.read(redis, None, after=after, count=5000)
            for e in batch:
                if e.campaign == cid or (not e.campaign and e.identity in idents):
                    emit(e)
            if batch:
                after = batch[-1].id
                continue
            if not follow:
                return
            await asyncio.sleep(0.5)

    with contextlib.suppress(KeyboardInterrupt):
        run(ctx, body)


async def _identities(redis: Redis, cid: str) -> set[str]:
    """The campaign's identities (whose own events its log shows); its history is shown even when it is unreadable."""
    rec = await campaigns.load(redis, cid)
    if not isinstance(rec, campaigns.Unreadable):
        return set(rec.identities) if rec else set()
    # A header on stderr: stdout keeps only events (JSON lines stay JSON lines).
    click.echo(printable(f"note: campaign {cid} cannot be read ({rec.reason}); its stored events follow"), err=True)
    spec = await campaigns.load_spec(redis, cid)
    return {i.id for i in spec.identities} if spec and not isinstance(spec, campaigns.Unreadable) else set()
