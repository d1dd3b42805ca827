"""`orchestrate pause|resume|cancel CAMPAIGN`: idempotent state changes, safe to run concurrently."""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

import click
from redis.asyncio import Redis

from orchestrator.commands._common import CommandError, print_json, resolve_campaign, run
from orchestrator.core.budget import budget_now
from orchestrator.core.campaign_state import Transition
from orchestrator.core.clock import SystemClock
from orchestrator.core.text import printable
from orchestrator.store import campaigns, events, identities


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


async def _in_flight(redis: Redis, cid: str) -> tuple[int, int]:
    rec = await campaigns.get(redis, cid)
    assert rec is not None
    return rec.counts["granted"], rec.counts["inflight"]


@click.command("pause")
@click.argument("campaign")
@click.option("--reason", default="paused by the operator", show_default=True, help="Why (shown in status and logs).")
@click.option("--wait", "wait_s", default=10.0, show_default=True, help="Seconds to wait for in-flight sends.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def pause(ctx: click.Context, campaign: str, reason: str, wait_s: float, as_json: bool) -> None:
    """Stop new sends of CAMPAIGN within seconds; sends already in flight finish and are counted."""

    async def body(redis: Redis) -> dict[str, Any]:
        cid = await resolve_campaign(redis, campaign)
        clock = SystemClock()
        outcome, was = await campaigns.transition(redis, cid, Transition.PAUSE, clock.now(), reason=reason, by=_who())
        if outcome == "refused":
            raise CommandError(f"campaign {cid} is {was}: only a running campaign can be paused")
        granted, sending = await _in_flight(redis, cid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while (granted or sending) and loop.time() < deadline:
            await asyncio.sleep(0.2)
            granted, sending = await _in_flight(redis, cid)
        rec = await campaigns.get(redis, cid)
        assert rec is not None
        return {
            "campaign_id": cid,
            "state": rec.state.value,
            "changed": outcome == "ok",
            "in_flight_at_pause": granted + sending,
            "still_in_flight": rec.counts["granted"] + rec.counts["inflight"],
            "accepted": rec.counts["accepted"],
            "pending": rec.counts["queued"],
        }

    report = run(ctx, body)
    if as_json:
        print_json(report)
        return
    if not report["changed"]:
        click.echo(f"campaign {report['campaign_id']} was already paused")
    else:
        click.echo(f"campaign {report['campaign_id']} paused: no new sends start from now")
    click.echo(
        f"  in flight when paused: {report['in_flight_at_pause']}; still in flight: {report['still_in_flight']}; "
        f"accepted so far: {report['accepted']:,}; pending: {report['pending']:,}"
    )


@click.command("resume")
@click.argument("campaign")
@click.option("--ack", "ack", default="", help="Acknowledge the pause reason (recorded in the log).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def resume(ctx: click.Context, campaign: str, ack: str, as_json: bool) -> None:
    """Continue CAMPAIGN where it stopped; shows each identity's warm-up day and caps for today."""

    async def body(redis: Redis) -> dict[str, Any]:
        cid = await resolve_campaign(redis, campaign)
        clock = SystemClock()
        rec = await campaigns.get(redis, cid)
        assert rec is not None
        previous_reason = rec.reason
        outcome, was = await campaigns.transition(redis, cid, Transition.RESUME, clock.now(), reason="", by=_who())
        if outcome == "refused":
            raise CommandError(f"campaign {cid} is {was}: only a paused campaign can be resumed")
        if outcome == "ok" and (ack or previous_reason):
            await events.emit(
                redis, clock.now(), "pause_acknowledged", cid, reason=previous_reason, note=ack or None, by=_who()
            )
        states = await identities.load_many(redis, rec.identities)
        lt, days, alloc = budget_now(rec.spec, states, clock.now())
        return {
            "campaign_id": cid,
            "changed": outcome == "ok",
            "previous_reason": previous_reason,
            "local_date": lt.date.isoformat(),
            "identities": [
                {"id": i, "warmup_day": d, "daily_cap": c.daily, "hourly_cap": c.hourly}
                for i, d, c in zip(rec.identities, days, alloc.identities, strict=True)
            ],
            "pool": {"daily_cap": alloc.pool.daily, "hourly_cap": alloc.pool.hourly},
        }

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
@click.option("--reason", default="cancelled by the operator", show_default=True)
@click.pass_context
def cancel(ctx: click.Context, campaign: str, reason: str) -> None:
    """Stop CAMPAIGN for good; its ledger stays for the record."""

    async def body(redis: Redis) -> tuple[str, str, str]:
        cid = await resolve_campaign(redis, campaign)
        outcome, was = await campaigns.transition(
            redis, cid, Transition.CANCEL, SystemClock().now(), reason=reason, by=_who()
        )
        return cid, outcome, was

    cid, outcome, was = run(ctx, body)
    if outcome == "refused":
        raise CommandError(f"campaign {cid} is {was}: it cannot be cancelled")
    click.echo(f"campaign {cid} {'cancelled' if outcome == 'ok' else 'was already cancelled'}")


COMMANDS = [pause, resume, cancel]
