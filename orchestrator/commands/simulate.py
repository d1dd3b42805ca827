"""`orchestrate simulate FILE`: a faithful dry run of the real pipeline on a virtual clock, with a report."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from orchestrator.cli import AppContext, FiniteFloatRange, echo_error
from orchestrator.core.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from orchestrator.logging_setup import configure_logging


def _default_out(name: str) -> Path:
    from orchestrator.core.clock import SystemClock

    stamp = dt.datetime.fromtimestamp(SystemClock().now()).strftime("%Y%m%d-%H%M%S")  # noqa: DTZ006 - local folder name
    return Path(f"simulation-{name}-{stamp}")


@click.command("simulate")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 400), help="Virtual days to run.")
@click.option(
    "--out", "out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default: a new one, named)."
)
@click.option(
    "--speed",
    type=FiniteFloatRange(min=1, min_open=False),
    help="Virtual seconds per real second (at least 1); without it, as fast as the machine goes.",
)
@click.option(
    "--sample",
    type=FiniteFloatRange(0, 1, min_open=True),
    help="Scale recipients, caps and the guardrails' minimum samples by F, 0 < F <= 1.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16), help="arq workers side by side.")
@click.pass_context
def command(
    ctx: click.Context, file: Path, days: int, out: Path | None, speed: float | None, sample: float | None, workers: int
) -> None:
    """Run FILE through the real pipeline on a virtual clock against the local SES emulator.

    Writes report.html, summary.json and sends.jsonl. Nothing touches real Redis state or Tencent.
    """
    from orchestrator.campaign_file import CampaignFileError, check_campaign_and_rows
    from orchestrator.commands._common import echo_warnings

    if "LOG_LEVEL" not in os.environ:
        # A simulation sends thousands of mails a second: keep the terminal for warnings and the summary.
        app: AppContext = ctx.obj
        configure_logging(app.settings.log_format, "WARNING")
    # Every row read as submit reads them, before anything is written: the problems `validate` names
    # (a CSV with no valid row among them), before any folder is made.
    spec, stats, problems = check_campaign_and_rows(file)
    if problems or spec is None:
        echo_error(str(CampaignFileError(problems)))
        ctx.exit(EXIT_USAGE)
    sampled = sample is not None and sample < 1
    if sample is not None and sampled:
        _refuse_an_empty_sample(ctx, spec, sample, stats.total if stats is not None else 0)
    echo_warnings(spec)
    out = out or _default_out(spec.name)
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder should be (also above it), no permission
        echo_error(f"error: cannot make the output folder {out}: {exc.strerror or exc}")
        ctx.exit(EXIT_USAGE)
    with _removed_unless_finished(out, made, sampled):
        _run(ctx, spec, out, days, speed, sample, workers, _cleanup_words(out, made, sampled))
    if not sampled:
        from orchestrator.simulation.sample import SAMPLED_FILE

        # An earlier --sample run's copy in a reused folder: this run's outputs are of the whole list.
        (out / SAMPLED_FILE).unlink(missing_ok=True)


def _refuse_an_empty_sample(ctx: click.Context, spec: Any, sample: float, total: int) -> None:
    """Exit 2 when --sample keeps none of the recipients: said in the option's words before anything is made,
    not later as the empty sampled copy (a file the user never named) the run would stop at."""
    from orchestrator.recipients import RecipientFileError
    from orchestrator.simulation.sample import keeps_any

    try:
        if keeps_any(spec, sample):
            return
        echo_error(f"error: --sample {sample:g} keeps none of the {total:,} recipients: use a larger fraction")
    except RecipientFileError as exc:  # the file changed since it was read a moment ago
        echo_error(str(exc))
    ctx.exit(EXIT_USAGE)


@contextlib.contextmanager
def _removed_unless_finished(out: Path, made: bool, sampled: bool) -> Iterator[None]:
    """What this run wrote goes again when it does not finish (an error, Ctrl-C, SIGTERM): the output folder
    it made, no empty or half-filled one left behind. A folder that was there before is never removed;
    only the sampled recipients this run copied into it are."""
    from orchestrator.simulation.sample import SAMPLED_FILE

    try:
        yield
    except BaseException:
        if made:
            shutil.rmtree(out, ignore_errors=True)
        elif sampled:
            (out / SAMPLED_FILE).unlink(missing_ok=True)
        raise


def _cleanup_words(out: Path, made: bool, sampled: bool) -> str:
    """What a stopped run says it removed (`_removed_unless_finished`)."""
    if made:
        return "the output folder it made removed"
    from orchestrator.simulation.sample import SAMPLED_FILE

    kept = f"{out}/ (there before) kept"
    return f"{kept}, the {SAMPLED_FILE} it wrote there removed" if sampled else kept


def _run(
    ctx: click.Context,
    spec: Any,
    out: Path,
    days: int,
    speed: float | None,
    sample: float | None,
    workers: int,
    removed: str,
) -> None:
    from redis.exceptions import RedisError

    from orchestrator.commands._common import cancel_on, ignore_interrupts_if_stopped
    from orchestrator.embedded import EmbeddedRedisError
    from orchestrator.recipients import RecipientFileError
    from orchestrator.simulation.run import run_simulation

    click.echo(f"simulating {spec.name} for {days} days into {out}/ ...", err=True)

    def started(redis_url: str, cid: str) -> None:
        if speed:
            click.echo(f"  follow it live: REDIS_URL={redis_url} orchestrate watch {cid}", err=True)
            click.echo("  (that Redis is the run's own: it stops when the run ends, and watch with it)", err=True)

    progress = _progress_line()
    terminated: list[bool] = []
    interrupted: list[bool] = []

    async def main() -> Any:
        # SIGTERM and Ctrl-C cancel until the run has ended (asyncio.run's one cancel on Ctrl-C could be taken
        # by arq's handling of a job's cancellation: the run went on to its end): all it made goes with it.
        cancel_on(signal.SIGTERM, terminated)
        cancel_on(signal.SIGINT, interrupted)
        try:
            return await run_simulation(
                spec, out, days=days, speed=speed, sample=sample, workers=workers, progress=progress, on_start=started
            )
        finally:
            ignore_interrupts_if_stopped()

    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        _stopped_by(ctx, "SIGTERM" if terminated else "Ctrl-C" if interrupted else "", removed)
        raise
    except KeyboardInterrupt:  # before the run's own handler: the same cleanup as for SIGTERM
        _stopped_by(ctx, "Ctrl-C", removed)
    except EmbeddedRedisError as exc:
        raise click.ClickException(str(exc)) from None
    except RedisError as exc:  # the run's own redis-server went away (killed from outside)
        raise click.ClickException(f"the simulation's embedded redis-server stopped answering: {exc}") from None
    except RecipientFileError as exc:  # the file changed since it was read a moment ago
        echo_error(str(exc))
        ctx.exit(EXIT_USAGE)
    _print_summary(result.summary, out)


def _progress_line() -> Callable[[float], None]:
    """A line on stderr every 5 % of the virtual period (whole lines: a log line printed meanwhile, a
    guardrail's warning, is never glued onto it, and a run into a file or a pipe shows its progress too)."""
    last = [0]

    def progress(frac: float) -> None:
        pct = int(frac * 100)
        if pct >= last[0] + 5:
            last[0] = pct - pct % 5
            click.echo(f"  {last[0]:3d}% of the virtual period", err=True)

    return progress


def _stopped_by(ctx: click.Context, signal_name: str, removed: str) -> None:
    """A run a signal stopped ends with one line and the shell's code (SIGTERM 143, Ctrl-C 130); else nothing."""
    if signal_name == "SIGTERM":
        echo_error(f"simulation stopped (SIGTERM): its redis-server stopped, {removed}")
        ctx.exit(EXIT_TERMINATED)
    if signal_name == "Ctrl-C":
        echo_error(f"simulation interrupted: its redis-server stopped, {removed}")
        ctx.exit(EXIT_INTERRUPTED)


def _print_summary(s: dict[str, Any], out: Path) -> None:
    """The simulation's outcome in a few lines, and where its files are."""
    r = s["recipients"]
    click.echo(f"{s['campaign']}: {s['state']} after {s['virtual_days']} virtual days in {s['wall_seconds']} s")
    if s["state"] == "paused":
        # Nothing resumes a pause in a simulation: the run stopped there, and its files show the period up to it.
        by = f" ({s['paused_by']})" if s.get("paused_by") else ""
        click.echo(f"  ended paused{by}: {s.get('state_reason') or 'no reason given'}")
        click.echo("  the report, summary and send log below cover the run up to the pause")
    if s["note"]:
        click.echo(f"  {s['note']}")
    click.echo(
        f"  recipients {r['total']:,}: accepted {r['accepted']:,}, failed {r['failed']:,}, "
        f"suppressed {r['suppressed']:,}, invalid {r['invalid']:,}, duplicates {r['duplicates']:,}, "
        f"in doubt {r['in_doubt']:,}, "
        f"pending {r['pending']:,}"
    )
    api = s["api_calls"]
    limit = f" (limit {api['limit_per_s']:g})" if api["limit_per_s"] else ""
    click.echo(
        f"  Tencent API: {sum(api['by_action'].values()):,} calls, {api['throttled']:,} throttled, "
        f"busiest second {api['busiest_second']:,} calls{limit}"
    )
    click.echo(f"  report:  {out / 'report.html'}")
    click.echo(f"  summary: {out / 'summary.json'}")
    click.echo(f"  sends:   {out / 'sends.jsonl'}")
