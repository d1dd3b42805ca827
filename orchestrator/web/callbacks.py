"""Tencent's event callbacks: `POST /callbacks/tencent/{token}`, checked, deduplicated and counted."""

from __future__ import annotations

import asyncio
import hmac
from typing import Final

import structlog
from aiohttp import web

from orchestrator.core.callback_event import MAX_EVENTS, BadEventError, parse_body
from orchestrator.store.feedback import FeedbackStore
from orchestrator.store.feedback_batch import BatchedIngest
from orchestrator.web.context import CTX

log = structlog.get_logger("orchestrator.web.callbacks")

#: The largest body accepted (Tencent posts one small event at a time; a batch of MAX_EVENTS fits).
MAX_BODY_BYTES: Final = 256 * 1024
#: A callback's body must arrive whole within this long (Tencent posts a few hundred bytes at once).
BODY_READ_S: Final = 10.0
ROUTE: Final = "/callbacks/tencent/{token}"


class BodyCutError(BadEventError):
    """The body did not arrive whole: too slow, or the client hung up part way."""


def _token_ok(request: web.Request) -> bool:
    """The path's token matches CALLBACK_TOKEN (constant time); never when no token is set."""
    wanted = request.app[CTX].settings.callback_token
    if wanted is None:
        return False
    given = request.match_info.get("token", "")
    return hmac.compare_digest(given.encode(), wanted.get_secret_value().encode())


async def _read(request: web.Request) -> bytes:
    """The body, refused past MAX_BODY_BYTES however the client announced its length, or when it does not
    arrive whole within BODY_READ_S (a client sending a byte now and then would hold its connection)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadEventError(f"body: {request.content_length} bytes, more than {MAX_BODY_BYTES}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_READ_S):
            while chunk := await request.content.read(64 * 1024):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise BadEventError(f"body: more than {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyCutError(f"body: not received whole within {BODY_READ_S:g} s ({size} bytes came)") from None
    except ConnectionError:  # the client hung up part way: its fault, not Redis's (the 503 middleware's)
        raise BodyCutError(f"body: the client closed the connection after {size} bytes") from None
    return b"".join(chunks)


async def receive(request: web.Request, batches: BatchedIngest) -> web.Response:
    """Count the posted event(s); 404 for a wrong token, 400 with a one-line reason for a bad body."""
    if not _token_ok(request):
        raise web.HTTPNotFound
    try:
        events = parse_body(await _read(request), MAX_EVENTS)
    except BadEventError as exc:
        log.warning("callback_refused", reason=str(exc))
        refusal = web.Response(status=400, text=f"{exc}\n")
        if isinstance(exc, BodyCutError):
            refusal.force_close()  # the rest of a body too slow or cut short is not waited for
        return refusal
    await batches.ingest(events)
    return web.Response(text="ok\n")


def add_callback_routes(app: web.Application) -> None:
    """Add Tencent's callback route to an app whose CTX is (or will be) set before it starts."""
    made: list[BatchedIngest] = []  # made on first use: the app's CTX may be set after this call

    async def handler(request: web.Request) -> web.Response:
        if not made:
            ctx = request.app[CTX]
            made.append(BatchedIngest(FeedbackStore(ctx.redis), ctx.clock))
        return await receive(request, made[0])

    app.router.add_post(ROUTE, handler)
