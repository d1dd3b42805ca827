"""`orchestrate submit FILE`: validate, load the recipients, create the campaign (once)."""

from __future__ import annotations

from pathlib import Path

import click
from redis.asyncio import Redis

from orchestrator.cli import EXIT_USAGE, AppContext
from orchestrator.clock import SystemClock
from orchestrator.commands._common import CommandError, print_json, run
from orchestrator.submit import SubmitResult, describe, submit


@click.command("submit")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--new", "force_new", is_flag=True, help="Create another campaign even if these files were submitted.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def command(ctx: click.Context, file: Path, force_new: bool, as_json: bool) -> None:
    """Validate FILE, load its recipients into Redis and start the campaign."""
    from orchestrator.campaign_file import CampaignFileError, campaign_fingerprint, load_campaign
    from orchestrator.recipients import RecipientFileError
    from orchestrator.store.identities import IdentityConflictError

    try:
        campaign = load_campaign(file)
    except CampaignFileError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(EXIT_USAGE)
    app: AppContext = ctx.obj
    del app

    async def body(redis: Redis) -> SubmitResult:
        try:
            return await submit(
                redis, campaign, campaign_fingerprint(file), SystemClock().now(), str(file), force_new=force_new
            )
        except RecipientFileError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        except IdentityConflictError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None

    result = run(ctx, body)
    if as_json:
        print_json(result.as_json())
    else:
        click.echo(describe(file, result))
