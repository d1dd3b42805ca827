"""The web process's aiohttp app (the live page, /status.json, /metrics, /healthz) and how it is served."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from aiohttp import web
from redis.exceptions import RedisError, ResponseError

from orchestrator.logging_setup import OneLineHttpLog
from orchestrator.store.stored_values import refused
from orchestrator.web.access import ACCESS, Access, Handler, check_exposure, is_loopback, operators_only
from orchestrator.web.callbacks import add_callback_routes
from orchestrator.web.context import CTX, WebContext
from orchestrator.web.live import listed_status, pacer_tick_age, recent, status_json
from orchestrator.web.metrics import CONTENT_TYPE, exposition, read_snapshot
from orchestrator.web.page import EVENT_ROWS, PageData, render_page

log = structlog.get_logger("orchestrator.web")

#: /healthz gives Redis this long to answer before it says 503.
HEALTH_TIMEOUT_S = 2.0
#: The operators' pages (/, /status.json, /metrics) give their reads this long before they say 503: under
#: Prometheus's default 10 s scrape timeout (a Redis that takes connections but does not answer, paused or
#: stalled, held them until the client's retries ran out: 17 s).
PAGE_TIMEOUT_S = 8.0
#: A connection with no request under way is closed after this long (see `running_web`): above the 60 s a
#: reverse proxy commonly keeps an idle upstream connection (nginx's keepalive_timeout, a cloud load
#: balancer's idle timeout), so a proxy never reuses a connection this process has just closed.
IDLE_S = 75.0
#: Headers every answer carries: no framing, no sniffing, no referrer, nothing loaded from elsewhere.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


def build_app(ctx: WebContext) -> web.Application:
    """The app: operators' pages behind the access rule (access.py), /healthz open to probes."""
    app = web.Application(middlewares=[_security_headers, _redis_down])
    app[CTX] = ctx
    app[ACCESS] = Access(ctx.settings.web_access_token, is_loopback(ctx.settings.web_host))
    app.router.add_get("/", operators_only(_timed(_page)))
    app.router.add_get("/status.json", operators_only(_timed(_status_json)))
    app.router.add_get("/metrics", operators_only(_timed(_metrics)))
    app.router.add_get("/healthz", _healthz)
    add_callback_routes(app)  # Tencent's callbacks: their own token in the path, never the access rule
    return app


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 404, 405, a redirect: raised, and an answer all the same
        _secure(exc)
        raise
    _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _bad_http(record: logging.LogRecord, error: BaseException | None) -> dict[str, str]:
    """The error's kind only: aiohttp's message and traceback quote the request line, and the callback
    route's path holds CALLBACK_TOKEN (an operator page's `?token=` holds WEB_ACCESS_TOKEN)."""
    del record
    return {"error": type(error).__name__ if error is not None else "unknown"}


def route_of(request: web.Request) -> str:
    """The route a request matched, as registered (`/callbacks/tencent/{token}`): never the path it came
    with, which may hold a token."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "(no route)"


@web.middleware
async def _redis_down(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ResponseError as exc:  # Redis answered, refusing: a damaged key (wrong type), out of memory...
        why = refused(exc) or "Redis refused a command"
        log.warning("web_redis_refused", route=route_of(request), error=why)
        return web.Response(status=503, text=f"503: {why}; the web process's log has the route\n")
    except (RedisError, OSError) as exc:  # Redis restarting or gone: say so rather than a bare 500
        log.warning("web_redis_error", route=route_of(request), error=type(exc).__name__)
        return web.Response(status=503, text="503: Redis does not answer; try again shortly\n")


def _timed(handler: Handler) -> Handler:
    """The handler within PAGE_TIMEOUT_S: past it, TimeoutError (an OSError), which `_redis_down` answers 503."""

    async def within(request: web.Request) -> web.StreamResponse:
        async with asyncio.timeout(PAGE_TIMEOUT_S):
            return await handler(request)

    return within


async def _page(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    newest, marks = await recent(ctx, EVENT_ROWS)
    statuses, left_out = await listed_status(ctx)
    data = PageData(
        statuses=statuses,
        events=newest,
        now=ctx.clock.now(),
        pacer_tick_age_s=await pacer_tick_age(ctx),
        marks=marks,
        finished_left_out=left_out,
    )
    return web.Response(text=render_page(data), content_type="text/html", charset="utf-8")


async def _status_json(request: web.Request) -> web.StreamResponse:
    return web.json_response(await status_json(request.app[CTX]))


async def _metrics(request: web.Request) -> web.StreamResponse:
    body = exposition(await read_snapshot(request.app[CTX]))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _healthz(request: web.Request) -> web.StreamResponse:
    """200 {redis: ok, pacer_tick_age_s} while Redis answers; 503 when it does not.

    A stale pacer tick does not make it 503: this probe is about the web process and its Redis (a
    restart of the web process would not revive a pacer); the age is there for a look, and
    `wo_pacer_tick_age_seconds` on /metrics is what an alert watches.
    """
    ctx = request.app[CTX]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await ctx.redis.ping()
            try:
                age = await pacer_tick_age(ctx)
            except ResponseError:  # Redis answered: a damaged tick key (wrong type) is no reason to restart us
                age = None
    except (RedisError, OSError, TimeoutError) as exc:
        return web.json_response({"redis": "down", "error": type(exc).__name__, "pacer_tick_age_s": None}, status=503)
    return web.json_response({"redis": "ok", "pacer_tick_age_s": age})


@dataclass(frozen=True, slots=True)
class RunningWeb:
    """A started web app: where it listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@contextlib.asynccontextmanager
async def running_web(ctx: WebContext, app: web.Application | None = None) -> AsyncIterator[RunningWeb]:
    """Serve the app on the context's WEB_HOST / WEB_PORT (0: a free port) until the block exits.

    Raises WebAccessError when the address is not loopback and WEB_ACCESS_TOKEN is unset, OSError when
    the port is taken.
    """
    host, port = ctx.settings.web_host, ctx.settings.web_port
    check_exposure(host, ctx.settings.web_access_token)
    runner = web.AppRunner(
        app or build_app(ctx),
        access_log=None,
        shutdown_timeout=2.0,
        # A connection that sends no whole request (nothing, or headers a byte at a time) and an idle
        # keep-alive one are closed after IDLE_S (aiohttp's default is an hour: a slow client held its
        # socket, and enough of them the process's every file descriptor).
        keepalive_timeout=IDLE_S,
        lingering_time=2.0,  # after a refused callback, the rest of its body is read this long at most
        logger=OneLineHttpLog("orchestrator.web.http", "web_bad_http", _bad_http),
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        bound = int(sockets[0].getsockname()[1]) if sockets else port
        yield RunningWeb(host, bound)
    finally:
        await runner.cleanup()


async def serve_web(ctx: WebContext, stop: asyncio.Event) -> None:
    """`orchestrate web`: serve until `stop` is set, then close cleanly; logs the URLs, never a token."""
    async with running_web(ctx) as running:
        callbacks = "on" if ctx.settings.callback_token is not None else "off (CALLBACK_TOKEN unset)"
        guarded = "WEB_ACCESS_TOKEN" if ctx.settings.web_access_token is not None else "loopback only"
        log.info(
            "web_started",
            page=f"{running.url}/",
            metrics=f"{running.url}/metrics",
            healthz=f"{running.url}/healthz",
            access=guarded,
            callbacks=callbacks,
            callback_url=f"{running.url}/callbacks/tencent/<CALLBACK_TOKEN>" if ctx.settings.callback_token else None,
        )
        await stop.wait()
    log.info("web_stopped")
