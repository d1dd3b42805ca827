"""`orchestrate plan FILE`: preview the warm-up day by day (caps per identity, pool, cumulative)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestrator.campaign_file import CampaignFileError, count_recipients, load_campaign
from orchestrator.core.campaign import Campaign
from orchestrator.core.clock import SystemClock
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
    from orchestrator.cli import EXIT_USAGE, echo_error

    try:
        campaign = load_campaign(file)
        preview = preview_plan(campaign, campaign.start or _today(campaign), days)
        if as_json:
            click.echo(json.dumps(preview_json(campaign.name, preview), indent=2))
            return
        recipients = count_recipients(campaign)
    except CampaignFileError as exc:
        echo_error(str(exc))
        raise click.exceptions.Exit(EXIT_USAGE) from None
    _print_table(campaign, preview, recipients)


def _today(campaign: Campaign) -> dt.date:
    return dt.datetime.fromtimestamp(SystemClock().now(), tz=campaign.zone).date()


def _print_table(campaign: Campaign, preview: list[PreviewDay], recipients: int) -> None:
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
        console.print(f"Sending window {campaign.sending_window}: a day's capacity is capped by hourly x hours.")
