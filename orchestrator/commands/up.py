"""`orchestrate up`: everything on one machine in one command, for a first run or a small sender."""

from __future__ import annotations

import asyncio

import click

from orchestrator.cli import AppContext


@click.command("up")
@click.option(
    "--emulator/--no-emulator",
    default=None,
    help="Send to the local SES emulator (default: only when neither Tencent credentials nor SES_ENDPOINT are set).",
)
@click.option(
    "--redis-port",
    default=6390,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the embedded Redis, when one is started.",
)
@click.option(
    "--emulator-port",
    default=8765,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the local emulator, when started.",
)
@click.option(
    "--web-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port of the web process (status page, /metrics, /healthz; default: WEB_PORT, 8080).",
)
@click.pass_context
def command(
    ctx: click.Context, emulator: bool | None, redis_port: int, emulator_port: int, web_port: int | None
) -> None:
    """Run Redis (REDIS_URL, or an embedded one), the workers, the pacer and the web process together until Ctrl-C."""
    from orchestrator.commands._common import CommandError, stop_on_signals
    from orchestrator.core.exit_codes import EXIT_USAGE
    from orchestrator.core.text import printable
    from orchestrator.embedded import EmbeddedRedisError
    from orchestrator.redis_url import safe_url
    from orchestrator.settings import settings_or_exit
    from orchestrator.state_folder import state_dir
    from orchestrator.up import StateDirError, UpError, UpInfo, serve_all

    # Up starts things itself: what a previous `up` recorded is not to be reused (it may be stale).
    settings = settings_or_exit()
    app = AppContext(settings=settings if web_port is None else settings.model_copy(update={"web_port": web_port}))

    def ready(info: UpInfo) -> None:
        if info.embedded_redis:
            where = safe_url(app.settings.redis_url)
            click.echo(f"nothing listens at {where}: started an embedded one (AOF on) in {state_dir(app.settings)}")
            click.echo(f"redis:   {info.redis_url}   (other terminals: export REDIS_URL={info.redis_url})")
        else:
            given = "redis_url" in app.settings.model_fields_set
            why = "REDIS_URL" if given else "REDIS_URL unset: a Redis answers at its default, so none was started"
            click.echo(f"redis:   {safe_url(info.redis_url)}   ({why})")
        if info.emulator:
            why = "--emulator" if emulator else "neither Tencent credentials nor SES_ENDPOINT are set"
            click.echo(f"sending: to the LOCAL SES EMULATOR at {info.ses_endpoint} ({why})")
        else:
            click.echo(f"sending: Tencent Cloud SES {info.ses_endpoint or '(' + app.settings.ses_region + ')'}")
        if info.unfinished:
            shown = ", ".join(f"{cid} {state}" for cid, state in info.unfinished[:5])
            more = f" and {len(info.unfinished) - 5} more" if len(info.unfinished) > 5 else ""
            click.echo(printable(f"campaigns: {shown}{more} (unfinished here: the running ones go on now)"))
        callbacks = "on" if info.callbacks else "off (set CALLBACK_TOKEN)"
        click.echo(f"web:     {info.web_url}/   (status page; /metrics, /healthz; callbacks {callbacks})")
        click.echo("workers and pacer running; submit with `orchestrate submit FILE`; Ctrl-C stops everything")

    async def main() -> None:
        with stop_on_signals() as stop:
            try:
                await serve_all(app.settings, stop, emulator, redis_port, emulator_port, on_ready=ready)
            except StateDirError as exc:  # a setting to change, as a malformed one (exit 2)
                raise CommandError(str(exc), EXIT_USAGE) from None
            except (UpError, EmbeddedRedisError) as exc:
                raise CommandError(str(exc)) from None

    asyncio.run(main())
    click.echo("stopped cleanly")
