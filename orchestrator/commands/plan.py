"""`orchestrate plan FILE`: preview the warm-up day by day (caps per identity, pool, cumulative) and the
domain budgets it starts with."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestrator.campaign_file import CampaignFileError, count_groups, load_campaign
from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import SystemClock
from orchestrator.core.domain_budget import ShapingStart, budgets, budgets_json
from orchestrator.core.preview import PreviewDay, preview_json, preview_plan, reach_day

DEFAULT_DAYS = 30


@click.command("plan")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--days", type=click.IntRange(1, 3650), default=DEFAULT_DAYS, show_default=True, help="Days to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the preview as JSON.")
def command(file: Path, days: int, as_json: bool) -> None:
    """Preview the warm-up of the campaign FILE, assuming every identity sends its full cap each day.

    Day 1 is the campaign's `start`, or today in its time zone. Nothing is stored or sent.
    """
    from orchestrator.cli import echo_error
    from orchestrator.commands._common import echo_warnings
    from orchestrator.core.exit_codes import EXIT_USAGE

    try:
        campaign = load_campaign(file)
        preview = preview_plan(campaign, campaign.start or _today(campaign), days)
        recipients, groups = count_groups(campaign)
    except CampaignFileError as exc:
        echo_error(str(exc))
        raise click.exceptions.Exit(EXIT_USAGE) from None
    echo_warnings(campaign)
    today = _today(campaign)
    if campaign.start is not None and campaign.start < today:
        click.secho(
            f"warning: start {campaign.start} has passed: submitted now, the campaign sends from today ({today}); "
            "this preview starts on the file's date",
            fg="yellow",
            bold=True,
            err=True,
        )
    if as_json:
        report = {**preview_json(campaign.name, preview), "domain_budgets": budgets_json(campaign, preview, groups)}
        click.echo(json.dumps(report, indent=2))
        return
    console = _print_table(campaign, preview, recipients)
    _print_budgets(console, campaign, preview, groups)


def _today(campaign: Campaign) -> dt.date:
    return dt.datetime.fromtimestamp(SystemClock().now(), tz=campaign.zone).date()


def _print_table(campaign: Campaign, preview: list[PreviewDay], recipients: int) -> Console:
    reached = reach_day(preview, recipients)
    table = Table(
        title=f"{campaign.name}: warm-up preview ({campaign.mode.value}, {campaign.timezone})",
        caption="identity cells: warm-up day, daily cap / hourly cap",
    )
    table.add_column("day", justify="right")
    table.add_column("date")
    for ident in campaign.identities:
        table.add_column(ident.id, justify="right")
    table.add_column("pool", justify="right")
    table.add_column("cumulative", justify="right")
    table.add_column("")
    for d in preview:
        cells = [f"d{i.warmup_day}  {i.caps.daily:,}/{i.caps.hourly:,}" for i in d.identities.values()]
        mark = f"all {recipients:,} recipients" if d is reached else ""
        table.add_row(
            str(d.day),
            d.date.isoformat(),
            *cells,
            f"{d.pool.daily:,}/{d.pool.hourly:,}",
            f"{d.cumulative:,}",
            mark,
            style="bold green" if d is reached else None,
        )
    console = Console(highlight=False)
    if not console.is_terminal:  # a pipe or a file: print whole rows rather than wrap at 80 columns
        wide = console.options.update_width(10_000)
        console.width = max(console.width, console.measure(table, options=wide).maximum)
    console.print(table)
    if recipients == 0:
        console.print("The recipient file holds no valid e-mail address yet.")
    elif reached is not None:
        console.print(f"At full pace the {recipients:,} recipients are all sent by day {reached.day} ({reached.date}).")
    else:
        console.print(
            f"The {recipients:,} recipients need more than {len(preview)} days at full pace "
            f"({preview[-1].cumulative:,} by day {len(preview)}); try --days."
        )
    if campaign.window is not None:
        console.print(
            f"Sending window {campaign.sending_window}: each identity's day is capped by its hourly cap x hours."
        )
    return console


#: Provider groups shown by name in the text budgets; the rest are summed on one line.
GROUPS_SHOWN = 8


def _print_budgets(console: Console, campaign: Campaign, preview: list[PreviewDay], groups: dict[str, int]) -> None:
    """The domain budgets the campaign starts with (core/domain_budget.py), assuming no stored group state."""
    sh = campaign.shaping
    if campaign.mode.value != "warmup":
        console.print(f"Domain budgets: none in {campaign.mode.value} mode (no domain share, no per-domain shaping).")
        return
    console.print(
        f"\nDomain budgets at the start (no stored group state assumed): per-domain shaping from warm-up day "
        f"{sh.per_domain_from_day} or a daily cap of {sh.per_domain_from_daily:,}; before it, random order and "
        f"at most {sh.max_domain_share:.0%} of an identity's hour to one provider group while others wait."
    )
    table = Table(caption="cells: day 1 hourly cap of one group / from the shaping day: the group's own daily/hourly")
    table.add_column("group")
    table.add_column("recipients", justify="right")
    found = budgets(campaign, preview)
    for name, b in found.items():
        start = b.shaping
        when = f"shaping from day {start.day} ({start.date}, d{start.warmup_day})" if start else "no shaping in view"
        table.add_column(f"{name}\n{when}", justify="right")
    shown = list(groups.items())[:GROUPS_SHOWN]
    rest = sum(list(groups.values())[GROUPS_SHOWN:])
    for group, n in shown:
        table.add_row(group, f"{n:,}", *(_cell(b.share_hourly_cap, b.shaping) for b in found.values()))
    if rest:
        more = len(groups) - GROUPS_SHOWN
        others = f"{more} other group{'s' if more > 1 else ''}"
        table.add_row(others, f"{rest:,}", *(_cell(b.share_hourly_cap, b.shaping) for b in found.values()))
    console.print(table)


def _cell(share_hourly: int, start: ShapingStart | None) -> str:
    own = f"{start.caps.daily:,}/{start.caps.hourly:,}" if start is not None else "-"
    return f"{share_hourly:,}/h, then {own}"
