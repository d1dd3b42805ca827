"""`orchestrate pause|resume|cancel CAMPAIGN`: idempotent state changes, safe to run concurrently."""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import click
from redis.asyncio import Redis

from orchestrator.cli import FiniteFloatRange
from orchestrator.commands._common import CommandError, clock_now, print_json, resolve_campaign, run, state_phrase
from orchestrator.control import NeedsAck, Refused, cancel_campaign, pause_campaign, resume_campaign
from orchestrator.core.clock import SystemClock, VirtualClock
from orchestrator.core.exit_codes import EXIT_USAGE
from orchestrator.core.text import printable


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


#: pause's and cancel's --wait.
WAIT = click.option(
    "--wait",
    "wait_s",
    default=10.0,
    show_default=True,
    type=FiniteFloatRange(0, 3600),
    help="Seconds to wait for in-flight sends (0 to 3600).",
)


def _refused(refused: Refused, only: str) -> NoReturn:
    raise CommandError(f"campaign {refused.campaign_id} {state_phrase(refused.state)}: {only}")


@click.command("pause")
@click.argument("campaign")
@click.option("--reason", default="paused by the operator", show_default=True, help="Why (shown in status and logs).")
@WAIT
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def pause(ctx: click.Context, campaign: str, reason: str, wait_s: float, as_json: bool) -> None:
    """Stop new sends of CAMPAIGN within seconds; sends already in flight finish and are counted."""

    _stop(ctx, campaign, pause_campaign, reason, wait_s, as_json, "paused", "only a running campaign can be paused")


@click.command("resume")
@click.argument("campaign")
@click.option(
    "--ack",
    "ack",
    default="",
    help="Acknowledge the pause reason (recorded in the log); needed after an automatic pause.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def resume(ctx: click.Context, campaign: str, ack: str, as_json: bool) -> None:
    """Continue CAMPAIGN where it stopped; shows each identity's warm-up day and caps for today.

    A campaign that paused itself (a guardrail, Tencent's answer) resumes only with --ack "text".
    """

    async def body(redis: Redis) -> dict[str, Any]:
        cid = await resolve_campaign(redis, campaign)
        # The run's time (a `simulate --speed` publishes its virtual time): the acknowledgement starts the
        # guardrails' window afresh, which must be on the clock the sends' cohorts are counted on.
        now = await clock_now(redis)
        report = await resume_campaign(redis, cid, VirtualClock(now), ack, _who())
        if isinstance(report, Refused):
            _refused(report, "only a paused campaign can be resumed")
        if isinstance(report, NeedsAck):
            raise CommandError(
                f"campaign {cid} paused itself ({printable(report.reason)}): "
                'resume it with --ack "what was done about it"',
                EXIT_USAGE,
            )
        return report

    report = run(ctx, body)
    if as_json:
        print_json(report)
        return
    verb = "resumed" if report["changed"] else "was already running"
    click.echo(f"campaign {report['campaign_id']} {verb}")
    if report["previous_reason"]:
        click.echo(f"  it had been paused: {printable(report['previous_reason'])}")
    click.echo(f"  today ({report['local_date']}):")
    for i in report["identities"]:
        click.echo(f"    {i['id']}: warm-up day {i['warmup_day']}, {i['daily_cap']:,}/day, {i['hourly_cap']:,}/hour")
    click.echo(f"    pool: {report['pool']['daily_cap']:,}/day, {report['pool']['hourly_cap']:,}/hour")


@click.command("cancel")
@click.argument("campaign")
@click.option(
    "--reason", default="cancelled by the operator", show_default=True, help="Why (shown in status and logs)."
)
@WAIT
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def cancel(ctx: click.Context, campaign: str, reason: str, wait_s: float, as_json: bool) -> None:
    """Stop CAMPAIGN for good; sends already in flight finish and are counted; its ledger stays for the record."""

    _stop(ctx, campaign, cancel_campaign, reason, wait_s, as_json, "cancelled", "it cannot be cancelled")


def _stop(
    ctx: click.Context,
    campaign: str,
    stop: Callable[..., Awaitable[dict[str, Any] | Refused]],
    reason: str,
    wait_s: float,
    as_json: bool,
    done: str,
    refused: str,
) -> None:
    """`pause` and `cancel`: stop CAMPAIGN, wait for its sends in flight, say what happened."""

    async def body(redis: Redis) -> dict[str, Any]:
        cid = await resolve_campaign(redis, campaign)
        report = await stop(redis, cid, SystemClock(), reason, _who(), wait_s)
        if isinstance(report, Refused):
            _refused(report, refused)
        return report

    report = run(ctx, body)
    if as_json:
        print_json(report)
        return
    verb = f"{done}: no new sends start from now" if report["changed"] else f"was already {done}"
    if report["state"] != done:  # another command (a cancel beside this pause) changed it meanwhile
        verb = f"is {report['state']} now: another command changed it meanwhile"
    click.echo(f"campaign {report['campaign_id']} {verb}")
    click.echo(
        f"  in flight when {done}: {report['in_flight_at_stop']}; still in flight: {report['still_in_flight']}; "
        f"accepted so far: {report['accepted']:,}; pending: {report['pending']:,}"
    )
    if report["in_doubt"]:
        click.echo(
            f"  in doubt: {report['in_doubt']:,} (they may have reached Tencent; the sweeper asks it and settles "
            "each: do not mail those rows again before that, `orchestrate trace ADDRESS` tells)"
        )


COMMANDS = [pause, resume, cancel]
