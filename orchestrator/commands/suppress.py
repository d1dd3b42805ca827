"""`orchestrate suppress add|remove|list|import|export`: the addresses never to mail, and why."""

from __future__ import annotations

from pathlib import Path

import click
from redis.asyncio import Redis

from orchestrator import suppression
from orchestrator.commands._common import CommandError, clock_now, data_out, print_json, run, warn_data_lost
from orchestrator.core.clock import utc_text
from orchestrator.core.exit_codes import EXIT_USAGE
from orchestrator.core.text import printable
from orchestrator.store import identities
from orchestrator.store.suppression import Entry

_DOMAIN_HELP = "The sender domain whose list it is; without it: the list of every sender domain of ours."


def _usage(exc: suppression.SuppressionInputError) -> CommandError:
    return CommandError(str(exc), EXIT_USAGE)


def _when(at: float) -> str:
    return utc_text(at, seconds=False)


def _scope(sender_domain: str) -> str:
    return f"sender domain {sender_domain}" if sender_domain else "every sender domain"


@click.group("suppress")
def group() -> None:
    """Addresses never to mail: per sender domain (unsubscribes) or from every one (complaints, bounces)."""


def _warn_unknown(domains: tuple[str, ...]) -> None:
    """A typo in a sender domain would suppress nothing: say so (the entries are kept for a later identity)."""
    if domains:
        named = ", ".join(domains[:5]) + (f" and {len(domains) - 5} more" if len(domains) > 5 else "")
        warning = f"warning: no identity here sends from {named}: the entries apply once one does"
        click.secho(printable(warning), fg="yellow", err=True)


@group.command("add")
@click.argument("address")
@click.option("--sender-domain", default=None, help=_DOMAIN_HELP)
@click.option("--reason", default="added by the operator", show_default=True)
@click.pass_context
def add(ctx: click.Context, address: str, sender_domain: str | None, reason: str) -> None:
    """Never mail ADDRESS again (from one sender domain, or from any)."""

    async def body(redis: Redis) -> tuple[Entry, bool, bool]:
        try:
            e, already = await suppression.add(redis, address, sender_domain, reason, await clock_now(redis))
        except suppression.SuppressionInputError as exc:
            raise _usage(exc) from None
        return e, already, not e.sender_domain or e.sender_domain in await identities.sender_domains(redis)

    e, already, known = run(ctx, body)
    if not known:
        _warn_unknown((e.sender_domain,))
    if already:
        click.echo(
            printable(
                f"{e.address} was already suppressed for {_scope(e.sender_domain)} since {_when(e.at)}: "
                f"{e.source}: {e.reason} (left as it is; to change its reason, remove it, then add it)"
            )
        )
        return
    click.echo(printable(f"{e.address} suppressed for {_scope(e.sender_domain)}: {e.reason}"))


@group.command("remove")
@click.argument("address")
@click.option("--sender-domain", default=None, help=_DOMAIN_HELP)
@click.pass_context
def remove(ctx: click.Context, address: str, sender_domain: str | None) -> None:
    """Take ADDRESS off one list (Tencent's blocklist: `orchestrate blocklist release`)."""

    async def body(redis: Redis) -> bool:
        try:
            return await suppression.remove(redis, address, sender_domain, await clock_now(redis))
        except suppression.SuppressionInputError as exc:
            raise _usage(exc) from None

    scope = _scope((sender_domain or "").lower())
    if not run(ctx, body):
        raise CommandError(printable(f"{address.strip()} is not on the list of {scope}"))
    click.echo(printable(f"{address.strip()} removed from the list of {scope}"))


@group.command("list")
@click.option("--sender-domain", default=None, help="Only this sender domain's list and the all-domains list.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def list_(ctx: click.Context, sender_domain: str | None, as_json: bool) -> None:
    """The suppressed addresses, each with its list, source, reason and date."""

    async def body(redis: Redis) -> list[Entry]:
        await warn_data_lost(redis)
        try:
            return await suppression.listing(redis, sender_domain, await clock_now(redis))
        except suppression.SuppressionInputError as exc:
            raise _usage(exc) from None

    entries = run(ctx, body)
    if as_json:
        print_json([e.as_json() for e in entries])
        return
    for e in entries:
        where = e.sender_domain or "(all)"
        click.echo(printable(f"{e.address}  {where}  {e.source}  {_when(e.at)}  {e.reason}"))
    click.echo(f"{len(entries):,} suppressed address(es)")


@group.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--sender-domain", default=None, help="Put every row on this sender domain's list.")
@click.pass_context
def import_(ctx: click.Context, file: Path, sender_domain: str | None) -> None:
    """Add the addresses of a CSV (column `email`; optional `sender_domain`, `reason`, `at`): all or none."""

    async def body(redis: Redis) -> suppression.ImportReport:
        try:
            return await suppression.import_file(redis, file, sender_domain, await clock_now(redis))
        except suppression.SuppressionInputError as exc:
            raise _usage(exc) from None

    report = run(ctx, body)
    click.echo(
        f"imported {report.added + report.already:,} address(es): {report.added:,} new, {report.already:,} updated"
        + (f" ({report.repeated:,} repeated row(s): the last of each counts)" if report.repeated else "")
    )
    _warn_unknown(report.unknown_domains)


@group.command("export")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def export(ctx: click.Context, as_json: bool) -> None:
    """Every list as CSV on stdout (cells safe to open in a spreadsheet), or JSON."""

    async def body(redis: Redis) -> list[Entry]:
        await warn_data_lost(redis)
        return await suppression.listing(redis, None, await clock_now(redis))

    entries = run(ctx, body)
    text = suppression.export_json(entries) + "\n" if as_json else suppression.export_csv(entries)
    data_out().write(text)


COMMANDS = [group]
