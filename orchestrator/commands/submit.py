"""`orchestrate submit FILE`: validate, load the recipients, create the campaign (once)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from redis.asyncio import Redis

from orchestrator.cli import AppContext, echo_error
from orchestrator.commands._common import (
    CommandError,
    cancel_on,
    echo_missing_credentials,
    echo_warnings,
    print_json,
    require_keeping,
    run,
)
from orchestrator.core.clock import SystemClock
from orchestrator.core.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from orchestrator.submit import (
    ListInUseError,
    ListOverlapError,
    SubmitCommittedError,
    SubmitInProgressError,
    SubmitLostClaimError,
    SubmitResult,
    describe,
    submit,
)

if TYPE_CHECKING:
    from orchestrator.core.campaign import Campaign
    from orchestrator.settings import Settings

#: What to do once Redis lost the campaigns it held (a pacer's note, or this host's book: state_folder.py).
AFTER_LOSS = (
    "Take the recipients already mailed out of the list (Tencent's send statistics, or `export` files kept from "
    "before), then run submit with --after-data-loss"
)
#: The line an interrupted submit ends with (its exit code is the one a shell reports for that signal).
INTERRUPTED = "submit {how}: no campaign was created and what it had loaded was removed"


@click.command("submit")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--new",
    "force_new",
    is_flag=True,
    help="Create another campaign even if these files, or this list in a campaign still sending, were submitted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
    "--after-data-loss",
    "after_loss",
    is_flag=True,
    help="Redis lost its data (a pacer logged redis_data_lost, or submit said so); the recipients already mailed are "
    "out of FILE.",
)
@click.pass_context
def command(ctx: click.Context, file: Path, force_new: bool, as_json: bool, after_loss: bool) -> None:
    """Validate FILE, load its recipients into Redis and start the campaign."""
    from orchestrator.campaign_file import CampaignFileError, load_campaign

    try:
        campaign = load_campaign(file)
    except CampaignFileError as exc:
        echo_error(str(exc))
        ctx.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo(INTERRUPTED.format(how="interrupted"), err=True)
        ctx.exit(EXIT_INTERRUPTED)
    echo_warnings(campaign)
    app: AppContext = ctx.obj
    echo_missing_credentials(campaign, app.settings)
    terminated: list[bool] = []
    body = _submit_body(file, campaign, force_new, app.settings, terminated, after_loss)
    try:
        result = run(ctx, body)
    except KeyboardInterrupt:
        click.echo(INTERRUPTED.format(how="interrupted"), err=True)
        ctx.exit(EXIT_INTERRUPTED)
    except asyncio.CancelledError:
        click.echo(INTERRUPTED.format(how="terminated" if terminated else "cancelled"), err=True)
        ctx.exit(EXIT_TERMINATED)
    if as_json:
        print_json(result.as_json())
    else:
        click.echo(describe(file, result))


async def _no_loss_unless(redis: Redis, after_loss: bool) -> None:
    """Refuse while a pacer's note says Redis lost its data (store/instance.py), unless the operator says
    the mailed recipients are out of the list (`after_loss`: the note is then cleared)."""
    from orchestrator.store import instance

    lost = await instance.loss(redis)
    if lost is not None and not after_loss:
        msg = (
            f"Redis lost its data at {lost.when} (a pacer saw it empty: a restart without an append-only file, or a "
            "flush): the campaigns it held, with their record of who was mailed, are gone, and a campaign "
            f"submitted again mails every recipient again. {AFTER_LOSS}"
        )
        raise CommandError(msg)
    if lost is not None:
        await instance.forget_loss(redis)


def _check_remembered(redis_url: str, settings: Settings, current: str, after_loss: bool) -> None:
    """Refuse when a submit from this host saw another marker in this Redis (state_folder.py): its data was
    lost while no pacer ran to notice, or another Redis answers at that address. An unreadable book warns."""
    from orchestrator.core.clock import utc_text
    from orchestrator.state_folder import BookError, redis_address, remembered

    try:
        seen = remembered(settings, redis_url)
    except BookError as exc:
        echo_error(f"warning: {exc}; submit cannot tell whether this Redis lost the campaigns it held")
        return
    if seen is None or seen.instance == current or after_loss:
        return
    now_holds = "none" if not current else "another one"
    msg = (
        f"the Redis at {redis_address(redis_url)} held this orchestrator's campaigns when this host last submitted "
        f"there ({utc_text(seen.at)}; marker {seen.instance}) and now holds {now_holds}: it lost its data (a restart "
        "without an append-only file, or a flush) or another Redis answers at that address. A campaign submitted "
        f"again there mails every recipient again. {AFTER_LOSS}"
    )
    raise CommandError(msg)


async def _name_is_no_id(redis: Redis, name: str, file: Path) -> None:
    """Refuse a name that is another campaign's id: every command takes an id or a name, and the id wins, so
    the new campaign could never be named by it."""
    from orchestrator.store import keys

    if await redis.exists(keys.campaign(name)):
        msg = f"{file}: name: {name!r} is the id of an existing campaign (commands would find that one): choose another"
        raise CommandError(msg, EXIT_USAGE)


def _remember(redis_url: str, settings: Settings, marker: str) -> None:
    """Write the marker into this host's book; a book that cannot be written warns and submits all the same."""
    from orchestrator.state_folder import BookError, remember

    try:
        remember(settings, redis_url, marker, SystemClock().now())
    except BookError as exc:
        echo_error(f"warning: {exc}; a later loss of this Redis's data is seen only by a running pacer")


def _submit_body(
    file: Path, campaign: Campaign, force_new: bool, settings: Settings, terminated: list[bool], after_loss: bool
) -> Callable[[Redis], Awaitable[SubmitResult]]:
    """The command's work on Redis: submit, cancelled by SIGTERM as by Ctrl-C (noted in `terminated`)."""
    from orchestrator.campaign_file import campaign_fingerprint
    from orchestrator.recipients import RecipientFileError
    from orchestrator.store import instance
    from orchestrator.store.identities import IdentityConflictError

    def waiting() -> None:
        click.echo(
            f"{file} is being submitted by another process: waiting for it (up to {settings.submit_wait_s:g} s)",
            err=True,
        )

    async def body(redis: Redis) -> SubmitResult:
        cancel_on(signal.SIGTERM, terminated)  # cancelled like Ctrl-C (`run`): it cleans up before the end
        await require_keeping(settings.redis_url)  # never on a Redis that evicts keys: nothing written yet
        await _no_loss_unless(redis, after_loss)
        _check_remembered(settings.redis_url, settings, await instance.current(redis), after_loss)
        await _name_is_no_id(redis, campaign.name, file)
        try:
            result = await submit(
                redis,
                campaign,
                campaign_fingerprint(file),
                SystemClock().now(),
                str(file),
                force_new=force_new,
                heartbeat_ttl_s=settings.submit_heartbeat_ttl_s,
                wait_s=settings.submit_wait_s,
                on_wait=waiting,
            )
        except (RecipientFileError, IdentityConflictError, ListInUseError, ListOverlapError) as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        except (SubmitInProgressError, SubmitLostClaimError) as exc:
            raise CommandError(str(exc)) from None
        except SubmitCommittedError as exc:
            code = (EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) if exc.interrupted else EXIT_FAILED
            raise CommandError(str(exc), code) from None
        marker = await instance.mark(redis, SystemClock().now())  # what a loss of this Redis takes (store/instance.py)
        _remember(settings.redis_url, settings, marker)
        return result

    return body
