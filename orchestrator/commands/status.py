"""`orchestrate status [CAMPAIGN]`: every campaign (or one) with progress and per-identity budgets."""

from __future__ import annotations

from typing import Any

import click
from redis.asyncio import Redis
from rich.console import Group
from rich.table import Table
from rich.text import Text

from orchestrator.commands._common import (
    clock_now,
    print_json,
    report_console,
    resolve_campaign,
    run,
    warn_data_lost,
)
from orchestrator.core.credentials import DEFAULT_ACCOUNT
from orchestrator.core.exit_codes import EXIT_FAILED
from orchestrator.core.text import printable
from orchestrator.status import (
    UNREADABLE,
    CampaignStatus,
    IdentityStatus,
    all_status,
    campaign_status,
    in_doubt_rows,
    stale_after,
)
from orchestrator.store import campaigns
from orchestrator.store.campaigns import FINISHED_SHOWN
from orchestrator.store.group_state import OWN_DAY

STATE_STYLE = {"running": "green", "paused": "yellow", "completed": "cyan", "cancelled": "red", UNREADABLE: "bold red"}
#: Domain groups held or backing off shown one a line under an identity; `--json` lists every one.
GROUP_LINES = 10


def render_status(st: CampaignStatus) -> Group:
    """One campaign as rich renderables (used by `status` and `watch`)."""
    p = st.progress
    state = Text(st.state, style=STATE_STYLE.get(st.state, ""))
    if st.reason and st.state != "running":
        state.append(printable(f" ({st.reason}{', by ' + st.paused_by if st.paused_by else ''})"))
    head = Text.assemble((printable(f"{st.name} "), "bold"), (printable(f"[{st.id}] "), "dim"), state)
    if st.state == UNREADABLE:  # nothing else is known: the pacer and workers skip it
        return Group(
            head, Text("  skipped by the pacer and workers until its stored record is fixed", style="dim"), Text("")
        )
    total = max(p["total"], 1)
    stalled = None
    if st.pacer_stalled:
        age = st.pacer_tick_age_s
        since = "no pacer has ever ticked" if age is None else f"no pacer has ticked for {age:,.0f} s"
        stalled = Text(
            f"  {since}: nothing is being sent, whatever 'next send' says; start `orchestrate pacer` "
            "(or `orchestrate up`)",
            style="bold red",
        )
    summary = Text(
        f"accepted {p['accepted']:,} of {p['total']:,} ({100 * p['accepted'] / total:.1f}%)  pending {p['pending']:,}  "
        f"in flight {p['in_flight']:,}  failed {p['failed']:,}  suppressed {p['suppressed']:,}"
        f"{_dropped_at_submit(st.submit)}  in doubt {p['in_doubt']:,}   "
        f"eta{' if resumed now' if st.state == 'paused' else ''} {st.estimated_completion or '-'}"
    )
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("identity", "day", "today / cap", "last 60 min / cap", "next send", "note"):
        table.add_column(col)
    for i in st.identities:
        table.add_row(
            Text(printable(i.id if i.account == DEFAULT_ACCOUNT else f"{i.id} ({i.account})")),  # a Text, not markup
            str(i.warmup_day),
            f"{i.sent_today:,} / {i.daily_cap:,}",
            f"{i.sent_last_hour:,} / {i.hourly_cap:,}",
            i.next_slot or "-",
            f"stopped until {i.stopped_until}" if i.stopped_until else "",
        )
    quality = [line for i in st.identities for line in identity_notes(i)]
    pool = Text(
        f"pool today: {st.pool_daily_cap:,}/day, {st.pool_hourly_cap:,}/hour"
        f"{'' if st.window_open else '  (outside the sending window)'}",
        style="dim",
    )
    compacted = [
        Text(f"  per-recipient data compacted {st.compacted_at}: trace and export no longer answer", style="dim")
    ]
    warning = [stalled] if stalled is not None else []
    if st.compacted_at:  # its summary only: no identity rows nor pool (its identities' figures are others')
        return Group(head, *warning, summary, *compacted, Text(""))
    return Group(head, *warning, summary, table, *quality, pool, Text(""))


def _dropped_at_submit(submit: dict[str, Any]) -> str:
    """The rows submit dropped as suppressed: not among the `total` loaded, so beside the count, not in it."""
    n = submit.get("suppressed")
    return f" (+{n:,} at submit)" if isinstance(n, int) and n > 0 else ""


def guardrail_line(guardrails: dict[str, Any]) -> tuple[str, str]:
    """The identity's guardrail state in words (and its style), from the same verdicts `status --json` shows."""
    if guardrails.get("held"):
        return f"HELD: {guardrails['held_because']} (the warm-up day does not advance while it holds)", "yellow"
    metrics: dict[str, dict[str, Any]] = guardrails.get("metrics", {})
    warned = [
        f"{m} {v['rate']:.2%} past the warn line {v['line']:.2%}" for m, v in metrics.items() if v["level"] == "warn"
    ]
    if warned:
        return "guardrails: warning, " + "; ".join(warned), "yellow"
    judged = [m for m, v in metrics.items() if v["level"] == "ok"]
    waiting = [m for m, v in metrics.items() if v["level"] == "too_few"]
    parts = [f"within the lines: {', '.join(judged)}"] if judged else []
    parts += [f"too few sends yet: {', '.join(waiting)}"] if waiting else []
    return f"guardrails: clear ({'; '.join(parts) or 'no line'})", "dim"


def group_line(group: dict[str, Any]) -> str:
    """One provider group per-domain shaping holds or throttles: why, until when, its caps now."""
    until = f" until {group['until']}" if group.get("until") else ""
    return f"{group['group']}: {group['reason']}{until} ({group['hourly_cap']:,}/h, {group['daily_cap']:,}/day)"


def identity_notes(i: IdentityStatus) -> list[Text]:
    """Below the table, per identity: its quality, its guardrail state, each held or throttled domain group."""
    state, style = guardrail_line(i.guardrails)
    out = [
        Text(printable(f"  {i.id} quality: {i.quality_line or 'no figures yet'}"), style="dim"),
        Text(printable(f"  {i.id} {state}"), style=style),
    ]
    return out + group_notes(i)


def group_notes(i: IdentityStatus) -> list[Text]:
    """The groups held or backing off, one line each (at most GROUP_LINES); those merely on a warm-up day of
    their own, as per-domain shaping has most of a big list's domains, counted in one line."""
    own_day = [g for g in i.groups if str(g["reason"]).startswith(OWN_DAY)]
    held = [g for g in i.groups if not str(g["reason"]).startswith(OWN_DAY)]
    out = [Text(printable(f"  {i.id} domain {group_line(g)}"), style="yellow") for g in held[:GROUP_LINES]]
    if len(held) > GROUP_LINES:
        more = f"  {i.id} and {len(held) - GROUP_LINES:,} more domain groups held or backing off (`--json` lists them)"
        out.append(Text(printable(more), style="yellow"))
    if own_day:
        n, (noun, whose) = len(own_day), ("group", "its") if len(own_day) == 1 else ("groups", "their")
        line = f"  {i.id} {n:,} domain {noun} on a warm-up day of {whose} own, below the identity's caps"
        out.append(Text(printable(line + " (`--json` lists them)"), style="dim"))
    return out


@click.command("status")
@click.argument("campaign", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--in-doubt", "in_doubt", is_flag=True, help="List CAMPAIGN's recipients whose send is in doubt.")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help=f"Every finished campaign too (else the {FINISHED_SHOWN} that finished last).",
)
@click.pass_context
def command(ctx: click.Context, campaign: str | None, as_json: bool, in_doubt: bool, show_all: bool) -> None:
    """Show every campaign (or CAMPAIGN): state, progress, per-identity caps and next send."""
    if in_doubt:
        if campaign is None:
            raise click.UsageError("--in-doubt needs a CAMPAIGN")
        _list_in_doubt(ctx, campaign, as_json)
        return

    stale = stale_after(ctx.obj.settings.pacer_interval_s)

    left_out: list[int] = [0]

    async def body(redis: Redis) -> list[CampaignStatus]:
        now = await clock_now(redis)
        await warn_data_lost(redis)
        if campaign is not None:  # '' too: "no campaign ''", as every command taking a CAMPAIGN says
            st = await campaign_status(redis, await resolve_campaign(redis, campaign), now, stale)
            return [st] if st else []
        ids, left_out[0] = await campaigns.listed(redis, None if show_all else FINISHED_SHOWN)
        return await all_status(redis, now, stale, ids)

    statuses = run(ctx, body)
    if left_out[0]:  # on stderr: --json's list stays a list
        click.echo(
            f"{left_out[0]:,} campaigns that finished earlier are not shown: `status --all` lists them", err=True
        )
    if as_json:
        data = [s.as_json() for s in statuses]
        print_json(data[0] if campaign is not None and data else data)
    else:
        console = report_console()
        if not statuses:
            console.print("no campaigns yet: `orchestrate submit campaigns/example.yaml`")
        for st in statuses:
            console.print(render_status(st))
    if campaign is not None and any(st.state == UNREADABLE for st in statuses):
        ctx.exit(EXIT_FAILED)  # the one campaign asked about cannot be read


def _list_in_doubt(ctx: click.Context, campaign: str, as_json: bool) -> None:
    """The recipients an operator must settle: the provider's status could not say whether they were sent."""

    async def body(redis: Redis) -> list[dict[str, object]]:
        return await in_doubt_rows(redis, await resolve_campaign(redis, campaign))

    rows = run(ctx, body)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no recipient is in doubt")
    for r in rows:
        click.echo(f"{r['index']}\t{printable(str(r['address']))}\t{printable(str(r['identity']))}\tsince {r['since']}")
