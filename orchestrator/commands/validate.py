"""`orchestrate validate FILE`: check a campaign file and its CSV header; a summary, or every problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from orchestrator.campaign_file import CampaignFileError, Problem, check_campaign_and_rows, read_csv_header
from orchestrator.campaign_summary import summarize
from orchestrator.cli import redact
from orchestrator.core.plan import SKIP_WARMUP_MAX_DAILY, Mode
from orchestrator.core.text import printable


@click.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {valid, errors, summary} as JSON.")
def command(file: Path, as_json: bool) -> None:
    """Check a campaign FILE and its recipient CSV (every row, as submit reads it) without sending anything.

    Exits 0 when the file is valid, 2 when not (every problem is printed with its place).
    """
    from orchestrator.core.exit_codes import EXIT_USAGE

    campaign, stats, problems = check_campaign_and_rows(file)
    header: list[str] = []
    if campaign is not None and not problems:
        try:
            header = read_csv_header(campaign)
        except CampaignFileError as exc:  # changed since the check a moment ago
            problems = exc.problems
    summary = summarize(campaign, header, stats) if campaign is not None and not problems else None
    if as_json:
        errors = [{"file": p.file, "line": p.line, "field": p.field, "message": redact(p.message)} for p in problems]
        click.echo(json.dumps({"valid": not problems, "errors": errors, "summary": summary}, indent=2))
    elif summary is not None:
        _echo_summary(str(file), summary)
    else:
        _echo_problems(str(file), problems)
    if problems:
        raise click.exceptions.Exit(EXIT_USAGE)


def _echo(line: str) -> None:
    """One line for a person: names, columns and messages from the files may hold terminal escapes."""
    click.echo(printable(line))


def _echo_summary(file: str, s: dict[str, Any]) -> None:
    window = f", window {s['sending_window']}" if s["sending_window"] else ""
    start = s["start"] or "the day it is submitted"
    _echo(f"{file}: valid")
    _echo(f"  campaign    {s['name']} (mode {s['mode']}, time zone {s['timezone']}, start {start}{window})")
    for n, ident in enumerate(s["identities"]):
        quota = f", Tencent quota {ident['daily_quota']:,}/day" if ident["daily_quota"] else ""
        label = "identities" if n == 0 else ""
        _echo(
            f"  {label:<10}  {ident['id']}  {ident['from']}  from warm-up day {ident['warmup_day']}"
            f" (account {ident['account']}){quota}"
        )
    if s["mode"] == Mode.SHARED:
        _echo("  plan        no ramp: Tencent's shared IPs are warm; its quotas and target_daily bind")
    else:
        days = "  ".join(f"d{d['warmup_day']} {d['daily_cap']:,}/{d['hourly_cap']:,}" for d in s["plan_first_days"])
        _echo(f"  plan        {days}  (per identity, daily/hourly)")
    if s["mode"] == Mode.SKIP_WARMUP:
        _echo(f"  pool        at most {SKIP_WARMUP_MAX_DAILY:,} a day for all its identities together")
    elif s["mode"] == Mode.SHARED:
        _echo("  pool        the sum of its identities (no ramp to multiply)")
    else:
        _echo(f"  pool        at most {s['pool_multiplier']:g}x the plan of its most advanced identity")
    r = s["recipients"]
    _echo(f"  recipients  {r['file']} (columns: {', '.join(r['columns'])}; e-mail in {r['email_column']!r})")
    if "total" in r:
        _echo(
            f"              rows {r['total']:,}  valid {r['valid']:,}  invalid {r['invalid']:,}  "
            f"duplicates {r['duplicates']:,}  (suppressed addresses not counted: submit drops them)"
        )
    if r.get("invalid_reasons"):
        _echo("  invalid     " + ", ".join(f"{reason} {n:,}" for reason, n in r["invalid_reasons"].items()))
        for example in r["invalid_examples"]:
            _echo(f"              {r['file']}: {example}")
    for warning in s["warnings"]:
        click.secho(printable(f"  warning: {warning}"), fg="yellow", bold=True)


def _echo_problems(file: str, problems: list[Problem]) -> None:
    for problem in problems:
        _echo(redact(str(problem)))
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    _echo(f"{file}: {count}")
