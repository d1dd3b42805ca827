"""`orchestrate check FILE`: the preflight checklist against Tencent SES (or the emulator) before a send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from orchestrator.core.calendar import TENCENT_ZONE
from orchestrator.core.checklist import Item
from orchestrator.core.clock import SystemClock
from orchestrator.core.text import json_printable, printable
from orchestrator.preflight import run_preflight
from orchestrator.ses.endpoint import endpoint_profile
from orchestrator.ses.errors import SesConfigError
from orchestrator.settings import Settings, settings_or_exit

_MARKS = {"ok": "[green]✓[/]", "fail": "[red]✗[/]", "warn": "[yellow]![/]", "info": "[dim]·[/]"}


def _markup(text: str) -> str:
    """Data (names, provider messages) inside rich markup: terminal escapes shown, brackets not markup."""
    return escape(printable(text))


def _target(settings: Settings) -> str:
    """What the preflight runs against, in words; a SES_ENDPOINT the settings did not check (set on them
    afterwards) is one line and exit 2, as when it is read."""
    from orchestrator.cli import echo_error
    from orchestrator.core.exit_codes import EXIT_USAGE

    try:
        profile = endpoint_profile(settings)
    except SesConfigError as exc:
        echo_error(f"error: {exc.detail}")
        raise click.exceptions.Exit(EXIT_USAGE) from None
    return settings.ses_endpoint or f"Tencent Cloud (ses.{profile.rootDomain}, {settings.ses_region})"


def print_checklist(console: Console, items: Iterable[Item]) -> None:
    group = None
    for item in items:
        if item.group != group:
            group = item.group
            console.print(f"[bold]{_markup(group)}[/]")
        detail = f" — {_markup(item.detail)}" if item.detail else ""
        console.print(f"  {_MARKS[item.status]} {_markup(item.name)}{detail}")
        if item.fix and item.status in ("fail", "warn"):
            console.print(f"      [dim]fix:[/] {_markup(item.fix)}")


@click.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the checklist as JSON.")
@click.pass_context
def command(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Preflight a campaign FILE against Tencent SES: credentials, domains, template, recipients.

    Exits 0 when every check passes (warnings allowed), 1 when one fails, 2 when FILE is invalid.
    """
    from orchestrator.campaign_file import CampaignFileError, load_campaign
    from orchestrator.cli import echo_error, redact
    from orchestrator.core.exit_codes import EXIT_FAILED, EXIT_USAGE

    try:
        campaign = load_campaign(file)
    except CampaignFileError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "errors": [redact(str(p)) for p in exc.problems]}, indent=2))
        else:
            for problem in exc.problems:
                echo_error(str(problem))
        raise click.exceptions.Exit(EXIT_USAGE) from None
    settings: Settings = ctx.obj.settings if ctx.obj is not None else settings_or_exit()
    endpoint = _target(settings)  # before any call: a bad endpoint is refused up front
    today = datetime.fromtimestamp(SystemClock().now(), tz=TENCENT_ZONE).date()
    items = asyncio.run(run_preflight(campaign, settings, today))
    failed = [i for i in items if i.status == "fail"]
    if as_json:
        payload = {"campaign": campaign.name, "ok": not failed, "items": [asdict(i) for i in items]}
        click.echo(json_printable(json.dumps(payload, indent=2, ensure_ascii=False)))
    else:
        console = Console(highlight=False, soft_wrap=True)
        console.print(f"Preflight of [bold]{_markup(campaign.name)}[/] against {_markup(endpoint)}")
        print_checklist(console, items)
        warned = sum(1 for i in items if i.status == "warn")
        verdict = "[red]not ready[/]" if failed else "[green]ready[/]"
        console.print(f"{verdict}: {len(failed)} failed, {warned} warnings, {len(items)} checks")
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED)
