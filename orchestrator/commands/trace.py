"""`orchestrate trace ADDRESS` (why did my mail to X not arrive?) and `orchestrate export CAMPAIGN` (each row)."""

from __future__ import annotations

import asyncio
import errno
import signal
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click
from redis.asyncio import Redis

from orchestrator.cli import AppContext
from orchestrator.commands._common import (
    CommandError,
    cancel_on,
    clock_now,
    data_out,
    print_json,
    resolve_campaign,
    run,
    warn_data_lost,
)
from orchestrator.core.addresses import normalize_address, shown
from orchestrator.core.clock import utc_text
from orchestrator.core.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from orchestrator.core.recipient_trace import Listed, Outcome
from orchestrator.core.text import printable
from orchestrator.store import compaction

if TYPE_CHECKING:
    from orchestrator.trace import Trace


def _when(at: float | None) -> str:
    return "?" if at is None else utc_text(at)


@click.command("trace")
@click.argument("address")
@click.option("--campaign", default=None, help="Only this campaign (id or name).")
@click.option("--live", is_flag=True, help="Also ask Tencent (GetSendEmailStatus) about each accepted MessageId.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def trace_command(ctx: click.Context, address: str, campaign: str | None, live: bool, as_json: bool) -> None:
    """What happened to ADDRESS in every campaign that had it, and the first thing that explains a missing mail.

    Exits 1 when nothing was found (no campaign keeps a row of the address, no list holds it); 2 when ADDRESS
    is not an e-mail address (and no row held it).
    """
    from orchestrator import trace

    app: AppContext = ctx.obj
    if campaign is not None and not campaign.strip():  # never read as "every campaign" (that is leaving it out)
        raise CommandError("--campaign: empty campaign id (leave the option out to search every campaign)", EXIT_USAGE)
    norm, why = normalize_address(address)
    if not address.strip():
        raise CommandError(f"ADDRESS: not an e-mail address: {shown(address)} ({why})", EXIT_USAGE)

    async def body(redis: Redis) -> Trace:
        await warn_data_lost(redis)
        only = await resolve_campaign(redis, campaign) if campaign else None
        now = await clock_now(redis)
        found = await trace.trace(redis, address, now, only)
        if live and found.outcomes:
            from orchestrator.ses.client import build_sender

            async with build_sender(app.settings, redis) as sender:
                await trace.add_live(redis, found, sender, now)
        return found

    found = run(ctx, body)
    if norm is None and not found.outcomes:
        # A row's cell that is no address is traced (it was invalid, and the answer says so); anything
        # else that is none is a mistyped argument, not an address no campaign had.
        raise CommandError(f"ADDRESS: not an e-mail address: {shown(address)} ({why})", EXIT_USAGE)
    if as_json:
        print_json(trace.as_json(found))
    else:
        _print(found)
    if not found.outcomes and not found.listed:
        raise SystemExit(EXIT_FAILED)


def _print(found: Trace) -> None:
    say = _say
    if not found.outcomes:
        n = found.not_indexed
        where = f" ({n} campaign(s) submitted before the address index was kept were not searched)" if n else ""
        if found.compacted:  # their rows are gone: the address may have been in one of them
            say(f"{found.address}: not in any campaign that still keeps its rows{where}")
        else:
            say(f"{found.address}: no campaign had this address{where}")
    else:
        say(f"trace of {found.address}")
    for o in found.outcomes:
        _print_outcome(o, found.live.get(o.message_id) if o.message_id else None)
    for e in found.listed:  # the lists outlive the campaigns' rows: shown whether or not a row was found
        say(f"  list: {_listed(e)}")
    if found.verdict is not None:
        # Several campaigns had the address: the answer is about the latest one, and says so.
        of = f" (campaign {found.verdict.campaign})" if len({o.place.cid for o in found.outcomes}) > 1 else ""
        say(f"why{of}: {found.verdict.why}")
        say(f"fix{of}: {found.verdict.fix}")
    _print_compacted(found)


def _print_compacted(found: Trace) -> None:
    """Campaigns searched whose per-recipient data is gone: when, and the summary they keep."""
    for c in found.compacted:
        _say(f"  not searched: {compaction.describe(c)}")


def _say(text: str) -> None:
    click.echo(printable(text))


def _print_outcome(o: Outcome, live: object) -> None:
    p = o.place
    state = f" ({o.campaign_state})" if o.campaign_state else ""
    if p.index is None:
        detail = o.dropped.detail if o.dropped is not None else ""
        what = f"duplicate of row {detail}" if p.kind == "duplicate" else f"{p.kind}: {detail}"
        _say(f"campaign {p.cid}{state}, row {p.row}: not loaded at submit, {what}")
        return
    _say(f"campaign {p.cid}{state}, row {p.row}: loaded (recipient {p.index}), now {o.state}")
    for a in o.attempts:
        since = f", in doubt since {_when(a.in_doubt_since)}" if a.in_doubt_since else ""
        code = f" {a.code}" if a.code else ""
        uncounted = " (not counted)" if a.attempt.isdigit() and a.tries < int(a.attempt) else ""
        _say(f"  {_when(a.at)}  {a.identity}  attempt {a.attempt}: {a.decision}{code}{since}{uncounted}")
    if o.state == "accepted":
        _say(f"  MessageId {o.message_id}, accepted {_when(o.accepted_at)} from {o.identity}")
    elif o.fields:
        _say("  ledger: " + ", ".join(f"{k} {v}" for k, v in o.fields if k not in ("token", "grant")))
    for e in o.events:
        extra = " ".join(x for x in (e.bounce_type, e.reason) if x)
        _say(f"  event {e.metric} at {_when(e.at)}{' ' + extra if extra else ''}")
    if isinstance(live, str):
        _say(f"  Tencent (live): not read: {live}")
    elif isinstance(live, list):
        if not live:
            _say("  Tencent (live): no record")
        for row in live:
            _say("  Tencent (live): " + ", ".join(f"{k} {v}" for k, v in row.items()))


def _listed(e: Listed) -> str:
    if e.scope == "blocklist":
        return f"Tencent's blocklist since {_when(e.at)} until {_when(e.until)}: {e.reason} (account {e.source})"
    where = f"sender domain {e.sender_domain}" if e.scope == "domain" else "every sender domain"
    return f"suppressed for {where} since {_when(e.at)}: {e.source}: {e.reason}"


@click.command("export")
@click.argument("campaign")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    callback=lambda _ctx, _param, value: _out_path(value),
    help="Write here (atomically); - or none: standard output.",
)
@click.pass_context
def export_command(ctx: click.Context, campaign: str, fmt: str, out: Path | None) -> None:
    """Every data row of CAMPAIGN's recipient file, in file order, with what became of it (spreadsheet-safe CSV).

    Stopped by Ctrl-C (exit 130) or SIGTERM (exit 143), it removes its temporary file: FILE is left as it was.
    """
    from orchestrator import export

    terminated: list[bool] = []
    written: list[int] = []  # the row count, once FILE is in place: a later signal no longer undoes it

    async def body(redis: Redis) -> int:
        cancel_on(signal.SIGTERM, terminated)  # cancelled like Ctrl-C (`run`): write_file removes its temp file
        cid = await resolve_campaign(redis, campaign)

        async def produce(fh: IO[str]) -> int:
            try:
                return await export.write(redis, cid, fmt, fh)
            except export.ExportError as exc:
                raise CommandError(str(exc)) from None

        if out is None:
            return await produce(data_out())
        try:
            n = await export.write_file(out, produce, keep=await export.recipient_file(redis, cid))
        except OSError as exc:
            hint = "; for standard output leave --out out, or give --out -" if exc.errno == errno.EEXIST else ""
            raise CommandError(f"cannot write {out}: {exc.strerror or exc}{hint}", EXIT_USAGE) from None
        written.append(n)
        return n

    try:
        n = run(ctx, body)
    except KeyboardInterrupt:
        _export_stopped("interrupted", out, written)
        ctx.exit(EXIT_INTERRUPTED)
    except asyncio.CancelledError:
        _export_stopped("terminated" if terminated else "cancelled", out, written)
        ctx.exit(EXIT_TERMINATED)
    if out is not None:
        click.echo(printable(f"{n:,} rows written to {out}"), err=True)


def _out_path(value: str | None) -> Path | None:
    """--out's file; None for standard output (no --out, or `-`); an empty path is refused, not taken as `.`."""
    if value is None or value == "-":
        return None
    if not value.strip():
        raise click.BadParameter("an empty path (for standard output leave --out out, or give --out -)")
    return Path(value)


def _export_stopped(how: str, out: Path | None, written: list[int]) -> None:
    """The one line an export stopped by a signal ends with: what it left behind."""
    if out is None:
        what = "the output stops part way"
    elif written:
        what = f"{written[0]:,} rows were already written to {out}"
    else:
        what = f"nothing written to {out} (its temporary file was removed)"
    click.echo(printable(f"export {how}: {what}"), err=True)


COMMANDS = [trace_command, export_command]
