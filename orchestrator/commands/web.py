"""`orchestrate web`: the live status page, /metrics, /healthz and Tencent's callbacks, until Ctrl-C."""

from __future__ import annotations

import asyncio

import click

from orchestrator.core.exit_codes import EXIT_USAGE


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: WEB_HOST, 127.0.0.1).")
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Port to listen on (default: WEB_PORT, 8080)."
)
@click.pass_context
def command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the status page, /status.json, /metrics and /healthz (and the callbacks when CALLBACK_TOKEN is set)."""
    from orchestrator.commands._common import CommandError, require_redis, stop_on_signals
    from orchestrator.core.clock import SystemClock
    from orchestrator.store.connection import redis_from_url
    from orchestrator.web.access import WebAccessError, check_exposure
    from orchestrator.web.app import serve_web
    from orchestrator.web.context import WebContext

    settings = ctx.obj.settings
    update = {k: v for k, v in (("web_host", host), ("web_port", port)) if v is not None}
    settings = settings.model_copy(update=update)
    try:
        check_exposure(settings.web_host, settings.web_access_token)
    except WebAccessError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None

    async def main() -> None:
        await require_redis(settings.redis_url)
        redis = redis_from_url(settings.redis_url)
        try:
            with stop_on_signals() as stop:
                await serve_web(WebContext(redis, settings, SystemClock()), stop)
        except OSError as exc:
            where = f"{settings.web_host}:{settings.web_port}"
            raise CommandError(
                f"cannot listen on {where} ({exc.strerror or exc}): pass --port or set WEB_PORT"
            ) from None
        finally:
            await redis.aclose()

    asyncio.run(main())
