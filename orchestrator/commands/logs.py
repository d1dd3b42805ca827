"""`orchestrate logs CAMPAIGN [--follow] [--json]`: the campaign's progress log from the event stream."""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import datetime, tzinfo

import click
from redis.asyncio import Redis

from orchestrator.commands._common import resolve_campaign, run_live
from orchestrator.core.text import finite_number, json_line, printable
from orchestrator.store import campaigns, events, keys
from orchestrator.store.events import Event

#: A stream entry id, as `events_after` holds it.
STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
#: Event fields that hold a moment (Unix time): shown as a time on a terminal, as the event's own time.
TIME_FIELDS = frozenset({"held_until", "until", "ready_at", "since", "blocked_at", "stopped_until"})


def event_line(e: Event, zone: tzinfo | None = None) -> str:
    """One readable line for a terminal (escape sequences in the event's data shown, not acted on); its
    times in `zone` (the campaign's: the one `status` and the hour summaries speak), else this host's."""
    if e.unreadable:
        return printable(f"event {e.id} could not be read ({e.unreadable}) {e.type}".rstrip())
    who = f" {e.identity}" if e.identity else ""
    data = " ".join(f"{k}={_moment(v, zone) if k in TIME_FIELDS else v}" for k, v in e.data.items())
    return printable(f"{_moment(repr(e.t), zone)} {e.type}{who} {data}".rstrip())


def _moment(raw: str, zone: tzinfo | None) -> str:
    """A stored Unix time as an ISO time in `zone` (this host's when None); the text as stored otherwise."""
    at = finite_number(raw)
    try:
        moment = datetime.fromtimestamp(at, zone) if at is not None else None
    except (ValueError, OverflowError, OSError):
        moment = None
    if moment is None:
        return raw
    return (moment if zone is not None else moment.astimezone()).isoformat(timespec="seconds")


@click.command("logs")
@click.argument("campaign")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (the default when stdout is not a terminal).")
@click.pass_context
def command(ctx: click.Context, campaign: str, follow: bool, as_json: bool) -> None:
    """Print CAMPAIGN's progress log: submitted, day advanced, hour summaries, pauses, retries, errors."""
    json_lines = as_json or not sys.stdout.isatty()

    def emit(e: Event, zone: tzinfo | None) -> None:
        if json_lines:
            sys.stdout.write(json_line(e.as_json()) + "\n")
        else:
            sys.stdout.write(event_line(e, zone) + "\n")
        sys.stdout.flush()

    async def body(redis: Redis) -> None:
        cid = await resolve_campaign(redis, campaign)
        scope = await log_scope(redis, cid)
        after = await events_start(redis, cid)
        while True:
            batch = await events.read(redis, None, after=after, count=5000)
            for e in batch:
                if scope.shows(e):
                    emit(e, scope.zone)
            if batch:
                after = batch[-1].id
                continue
            if not follow:
                return
            await asyncio.sleep(0.5)

    run_live(ctx, body)


#: Events another campaign's send records of an identity it shares: the identity's own state.
IDENTITY_WIDE = frozenset({"identity_stopped_today"})


@dataclass(frozen=True, slots=True)
class LogScope:
    """What a campaign's log shows: its own events, and its identities' own (a day closed, a stop for
    the day, whichever campaign's sends made them) from its creation to its end, not another campaign's
    days before it or after it."""

    cid: str
    identities: frozenset[str]
    since: float = float("-inf")
    until: float = float("inf")
    zone: tzinfo | None = None  # the campaign's time zone: its lines' times are shown in it

    def shows(self, e: Event) -> bool:
        if e.campaign == self.cid:
            return True
        if e.identity not in self.identities or (e.campaign and e.type not in IDENTITY_WIDE):
            return False
        return bool(e.unreadable) or self.since <= e.t <= self.until


async def events_start(redis: Redis, cid: str) -> str:
    """Where the campaign's log starts in the shared stream: after the newest event before its submit (stored
    then), not at the stream's start, which may hold a million older events; "-" for a campaign without it."""
    after = await redis.hget(keys.campaign(cid), "events_after")
    return str(after) if isinstance(after, str) and STREAM_ID.fullmatch(after) else "-"


async def log_scope(redis: Redis, cid: str) -> LogScope:
    """The campaign's identities and lifetime; its history is shown even when it is unreadable."""
    rec = await campaigns.load(redis, cid)
    if rec is None:
        return LogScope(cid, frozenset())
    if not isinstance(rec, campaigns.Unreadable):
        finished = rec.state.value in ("completed", "cancelled")
        until = finite_number(await redis.hget(keys.campaign(cid), "changed_at")) if finished else None
        end = float("inf") if until is None else until
        return LogScope(cid, frozenset(rec.identities), rec.created_at, end, rec.spec.zone)
    # A header on stderr: stdout keeps only events (JSON lines stay JSON lines).
    click.echo(printable(f"note: campaign {cid} cannot be read ({rec.reason}); its stored events follow"), err=True)
    spec = await campaigns.load_spec(redis, cid)
    ids = {i.id for i in spec.identities} if spec and not isinstance(spec, campaigns.Unreadable) else set()
    return LogScope(cid, frozenset(ids))
