"""`orchestrate compact CAMPAIGN`: compact a finished campaign now, without waiting for its retention period."""

from __future__ import annotations

from typing import Any

import click
from redis.asyncio import Redis

from orchestrator.commands._common import CommandError, clock_now, print_json, resolve_campaign, run, state_phrase
from orchestrator.core.clock import utc_text
from orchestrator.core.text import printable
from orchestrator.store import compaction, events, keys


@click.command("compact")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def command(ctx: click.Context, campaign: str, as_json: bool) -> None:
    """Keep only CAMPAIGN's summary now (it must be completed or cancelled): trace and export stop answering for it.

    The sweeper does this by itself COMPLETED_RETENTION_DAYS after the campaign finished. A campaign
    that sent mail is kept at least 8 days after it finished, whatever the retention.
    """

    async def body(redis: Redis) -> tuple[compaction.Compacted, dict[str, Any]]:
        cid = await resolve_campaign(redis, campaign)
        state, before = await redis.hmget(keys.campaign(cid), ["state", "compacted_at"])
        if state not in compaction.FINISHED:
            msg = f"campaign {cid} {state_phrase(state)}: only a completed or cancelled campaign can be compacted"
            raise CommandError(msg)
        now, removed, done = await clock_now(redis), 0, before is not None
        until = await compaction.mail_kept_until(redis, cid)
        if not done and until == float("inf"):
            raise CommandError(f"campaign {cid}: when it finished or what it sent cannot be read, so it is kept whole")
        if not done and until > now:
            kept, days = utc_text(until, seconds=False), compaction.MAIL_KEPT_S / 86400
            raise CommandError(
                f"campaign {cid} sent mail: its MessageIds are kept until {kept}, {days:g} days after it finished "
                "(its late bounces and complaints count in its identities' guardrails, and other campaigns' "
                "status lookups tell its mail from theirs); compact it from then on"
            )
        while not done:  # bounded batches, as the sweeper runs them
            done, n = await compaction.compact(redis, cid, now)
            removed += n
            if not done and not n and await compaction.in_flight(redis, cid):
                raise CommandError(
                    f"campaign {cid} still has sends in flight or awaiting their status lookup: "
                    "try again once they settled"
                )
        if before is None:
            await events.emit(redis, now, "campaign_compacted", cid, keys_removed=removed, by="operator")
        [gone] = await compaction.compacted(redis, [cid])
        return gone, {**compaction.as_json(gone), "already": before is not None, "keys_removed": removed}

    c, report = run(ctx, body)
    if as_json:
        print_json(report)
        return
    head = "was already compacted" if report["already"] else f"compacted ({report['keys_removed']:,} keys removed)"
    click.echo(printable(f"campaign {c.cid} {head}"))
    click.echo(printable(f"  {compaction.describe(c)}"))
