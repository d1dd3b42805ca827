"""`orchestrate blocklist sync|list|release`: Tencent's blocklist, mirrored in Redis."""

from __future__ import annotations

import click
from redis.asyncio import Redis

from orchestrator import blocklist
from orchestrator.cli import AppContext
from orchestrator.commands._common import CommandError, clock_now, print_json, run, warn_data_lost
from orchestrator.core.clock import utc_text
from orchestrator.core.exit_codes import EXIT_USAGE
from orchestrator.core.text import printable
from orchestrator.ses.errors import SesError
from orchestrator.store.suppression import BlockEntry


def _when(at: float | None) -> str:
    return utc_text(at, seconds=False) if at else "?"  # None or 0: a stored time that could not be read


@click.group("blocklist")
def group() -> None:
    """Tencent's blocklist (addresses that hard-bounced, kept 14 days): mirror it, list it, release one."""


@group.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def sync(ctx: click.Context, as_json: bool) -> None:
    """Read the blocklist of every account the identities use into Redis (the pacer does it hourly)."""
    from orchestrator.ses.client import build_sender

    app: AppContext = ctx.obj

    async def body(redis: Redis) -> blocklist.SyncReport:
        async with build_sender(app.settings, redis) as sender:
            return await blocklist.sync(redis, sender, await clock_now(redis))

    report = run(ctx, body)
    if as_json:
        print_json(report.as_json())
    else:
        for account, c in report.accounts.items():
            click.echo(f"account {account}: {c['listed']:,} listed, {c['added']:,} added, {c['removed']:,} removed")
        for account, error in report.errors.items():
            click.echo(printable(f"account {account}: not read: {error}"), err=True)
    if report.errors:
        raise SystemExit(1)


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The mirrored addresses still blocked, with their bounce, expiry, reason and account."""

    async def body(redis: Redis) -> tuple[list[BlockEntry], dict[str, float | None]]:
        await warn_data_lost(redis)
        return await blocklist.listing(redis, await clock_now(redis))

    entries, synced = run(ctx, body)
    if as_json:
        print_json({"entries": [e.as_json() for e in entries], "synced": synced})
        return
    for e in entries:
        line = (
            f"{e.address}  bounced {_when(e.bounced_at)}  until {_when(e.expires_at)}  {e.account or '-'}  {e.reason}"
        )
        click.echo(printable(line))
    when = ", ".join(f"{a} at {_when(t)}" for a, t in sorted(synced.items())) or "never"
    click.echo(f"{len(entries):,} blocked address(es); last synced: {when}")


@group.command("release")
@click.argument("address")
@click.pass_context
def release(ctx: click.Context, address: str) -> None:
    """Ask Tencent to take ADDRESS off its blocklist (DeleteBlackList), then drop it from the mirror."""
    from orchestrator.ses.client import build_sender

    app: AppContext = ctx.obj
    try:
        blocklist.address_of(address)  # a mistyped argument, before any connection or credentials
    except blocklist.NotAnAddressError as exc:
        raise CommandError(f"ADDRESS: {exc}", EXIT_USAGE) from None

    async def body(redis: Redis) -> BlockEntry:
        try:
            async with build_sender(app.settings, redis) as sender:
                return await blocklist.release(redis, sender, address, await clock_now(redis))
        except blocklist.NotBlockedError as exc:
            raise CommandError(str(exc)) from None
        except SesError as exc:
            raise CommandError(f"Tencent refused DeleteBlackList: {exc.code}: {exc.detail}") from None

    e = run(ctx, body)
    click.echo(printable(f"{e.address} released from Tencent's blocklist (account {e.account or 'all in use'})"))


COMMANDS = [group]
