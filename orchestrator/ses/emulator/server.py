"""The emulator's HTTP face: an aiohttp app speaking Tencent Cloud API 3.0, and an in-process runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_args

import aiohttp
import structlog
from aiohttp import web

from orchestrator.core.addresses import parse_from_address
from orchestrator.core.clock import Clock, SystemClock
from orchestrator.logging_setup import OneLineHttpLog
from orchestrator.ses.emulator.faults import FaultPlan
from orchestrator.ses.emulator.params import ApiError, ParamError, check, parse_body
from orchestrator.ses.emulator.recipients import POST_TRIES, CallbackPoster
from orchestrator.ses.emulator.records import CallRecord, SendRecord
from orchestrator.ses.emulator.service import SesEmulator
from orchestrator.ses.emulator.signing import SignatureError, verify
from orchestrator.ses.emulator.world import (
    DROP_AFTER_ACCEPT,
    DROP_BEFORE_ACCEPT,
    TIMEOUT_AFTER_ACCEPT,
    Account,
    World,
    http_fault,
    permissive_world,
)
from orchestrator.settings import SesRegion

SERVICE: Final = "ses"
API_VERSION: Final = "2020-10-02"
REGIONS: Final = frozenset(get_args(SesRegion))
_AFTER_ACCEPT: Final = frozenset({TIMEOUT_AFTER_ACCEPT, DROP_AFTER_ACCEPT})
#: Tencent's limit on a TC3-signed POST body; a larger one is refused with RequestSizeLimitExceeded.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
#: How long a client may take to send a whole request (headers, then body) before it is cut off.
DEFAULT_REQUEST_TIMEOUT_S: Final = 30.0
_SHOWN_CHARS: Final = 200

log = structlog.get_logger(__name__)


def _json(payload: dict[str, Any]) -> web.Response:
    # Exactly "application/json": with "; charset=utf-8" the SDK silently ignores error answers.
    body = json.dumps({"Response": payload}, ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, headers={"Content-Type": "application/json"})


def _error(code: str, message: str, request_id: str) -> web.Response:
    return _json({"Error": {"Code": code, "Message": message}, "RequestId": request_id})


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _SHOWN_CHARS else line[:_SHOWN_CHARS] + "..."


def _bad_http(record: logging.LogRecord, error: BaseException | None) -> dict[str, str]:
    said = f"{type(error).__name__}: {error}" if error is not None else ""
    return {"detail": _one_line(record.getMessage()), "error": _one_line(said)}


@dataclass
class _Call:
    """What the call log will say about the request being answered."""

    time: float
    action: str
    request_id: str
    account: str | None = None
    counted: bool = False

    def record(self, error: str | None) -> CallRecord:
        return CallRecord(self.time, self.account, self.action, error, self.counted, self.request_id)


class EmulatorApp:
    """Routes one request to an action after checking what Tencent checks first (size, signature, rate)."""

    def __init__(
        self, service: SesEmulator, wall_clock: Clock, request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    ) -> None:
        self.service = service
        self.wall_clock = wall_clock
        self.request_timeout_s = request_timeout_s
        self.faults = FaultPlan(service.world, service.rng)
        self.closing = asyncio.Event()

    def _secret_key_for(self, secret_id: str) -> str | None:
        account = self.service.world.account_by_secret_id(secret_id)
        return account.secret_key if account else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        try:
            body = await self._read_body(request)
        except ApiError as exc:  # too large: answered before the body is read (aiohttp discards the rest)
            return _error(exc.code, exc.message, request_id)
        except TimeoutError:
            log.warning("emulator_request_cut_off", remote=request.remote, timeout_s=self.request_timeout_s)
            return self._drop(request)
        except (ConnectionError, aiohttp.ClientPayloadError, aiohttp.http_exceptions.HttpProcessingError):
            log.debug("emulator_client_gone", remote=request.remote)  # it left mid-body: nobody to answer
            return self._drop(request)
        action = request.headers.get("X-TC-Action", "")[:_SHOWN_CHARS]
        call = _Call(self.service.clock.now(), action, request_id)
        error: str | None = None
        try:
            response, error = await self._answer(request, body, call)
        except ApiError as exc:
            response, error = _error(exc.code, exc.message, request_id), exc.code
        except Exception as exc:  # a bug: Tencent answers InternalError, never a traceback
            log.error("emulator_internal_error", action=action, error=_one_line(f"{type(exc).__name__}: {exc}"))
            response, error = _error("InternalError", "An internal error occurred.", request_id), "InternalError"
        self.service.record_call(call.record(error))
        return response

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole body within the request timeout; ApiError when it is larger than Tencent takes."""
        too_large = ApiError("RequestSizeLimitExceeded", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.request_timeout_s):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise too_large
                chunks.append(chunk)
        return b"".join(chunks)

    async def _answer(self, request: web.Request, body: bytes, call: _Call) -> tuple[web.StreamResponse, str | None]:
        """The answer to one complete request, and its error code (None for success)."""
        try:
            account, action = self._identify(request, body)
            call.account = account.name
            self.service.admit(account.name, call.time)
            call.counted = True
            params = parse_body(body)
            check(action, params)
            latency = self.service.world.latency
            if latency.max_ms > 0:
                delay_ms = self.service.rng.uniform(latency.min_ms, max(latency.min_ms, latency.max_ms))
                await asyncio.sleep(delay_ms / 1000)
        except (ApiError, SignatureError, ParamError) as exc:
            return _error(exc.code, exc.message, call.request_id), exc.code
        destination = (params.get("Destination") or []) if action == "SendEmail" else []
        own = (
            self.service.draw("fault", action, account.name, *sorted(destination), repr(call.time))
            if destination
            else None
        )
        rule = self.faults.pick(action, account.name, (d.rpartition("@")[2] for d in destination), own)
        http = http_fault(rule.code) if rule is not None else None
        if rule is not None and rule.code not in _AFTER_ACCEPT and not (http and http[1]):
            return self._injected(request, rule.code, rule.message, call.request_id, params, account.name), rule.code
        result = self.service.actions[action](account, params)
        call.request_id = result.setdefault("RequestId", call.request_id)  # the call log shows the id answered
        if rule is not None and rule.code == DROP_AFTER_ACCEPT:
            return self._drop(request), rule.code
        if rule is not None and http is not None:  # taken, then the gateway's HTTP error instead of the answer
            return _http_error(http[0]), rule.code
        if rule is not None and rule.code == TIMEOUT_AFTER_ACCEPT:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), timeout=rule.hang_s)
            return _json(result), rule.code
        return _json(result), None

    def _identify(self, request: web.Request, body: bytes) -> tuple[Account, str]:
        """What Tencent checks before counting a call: action, version, signature, region, action name."""
        action = request.headers.get("X-TC-Action", "")
        if not action:
            raise ApiError("MissingParameter", "The X-TC-Action header is required.")
        if request.headers.get("X-TC-Version") != API_VERSION:
            raise ApiError("NoSuchVersion", f"SES serves version {API_VERSION}.")
        secret_id = verify(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=request.headers,
            body=body,
            service=SERVICE,
            secret_key_for=self._secret_key_for,
            now=self.wall_clock.now(),
        )
        account = self.service.world.account_by_secret_id(secret_id)
        if account is None:  # removed from the world while the request was in flight
            raise ApiError("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        if request.headers.get("X-TC-Region", "") not in REGIONS:
            raise ApiError("UnsupportedRegion", "SES is not offered in this region.")
        if action not in self.service.actions:
            raise ApiError("InvalidAction", f"The action {_one_line(action)} is not found.")
        return account, action

    def _injected(
        self,
        request: web.Request,
        code: str,
        message: str | None,
        request_id: str,
        params: dict[str, Any],
        account: str,
    ) -> web.StreamResponse:
        if code == DROP_BEFORE_ACCEPT:
            return self._drop(request)
        if (http := http_fault(code)) is not None:
            return _http_error(http[0])
        try:
            from_address = parse_from_address(str(params.get("FromEmailAddress") or ""))[1]
        except ValueError:
            from_address = ""
        for to in params.get("Destination") or []:
            self.service.record_refusal(account, from_address, str(to), code)
        return _error(code, message or f"Injected {code}.", request_id)

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)


def _http_error(status: int) -> web.Response:
    """An HTTP error page, as the gateway in front of Tencent's API gives one: no Tencent body."""
    return web.Response(status=status, text="injected HTTP error", content_type="text/html")


_EMULATOR_KEY: Final = web.AppKey("emulator", EmulatorApp)


def build_app(
    service: SesEmulator, wall_clock: Clock | None = None, request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
) -> web.Application:
    """The aiohttp application: every action is a POST to `/`; any other request gets a Tencent error too."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    emulator = EmulatorApp(service, wall_clock or SystemClock(), request_timeout_s)
    app[_EMULATOR_KEY] = emulator
    app.router.add_route("*", "/{tail:.*}", emulator.handle)
    return app


@dataclass
class RunningEmulator:
    """A started emulator: its URL, world, send log and generated events."""

    url: str
    host: str
    port: int
    service: SesEmulator
    app: EmulatorApp
    poster: CallbackPoster

    @property
    def world(self) -> World:
        return self.service.world

    @property
    def send_log(self) -> list[SendRecord]:
        return self.service.send_log

    @property
    def call_log(self) -> list[CallRecord]:
        return self.service.call_log

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.service.events

    @property
    def endpoint(self) -> str:
        """host:port, as the SDK's HttpProfile(endpoint=...) wants it."""
        return f"{self.host}:{self.port}"

    def next_callback_at(self) -> float | None:
        """When the next event may be posted on the clock; None when none waits or no URL is set."""
        return self.poster.next_at() if self.world.callback_url else None

    async def post_due_callbacks(self) -> None:
        """POST the events whose time has come (a failed one once its retry time has come too)."""
        url = self.world.callback_url
        if url:
            await self.poster.flush(self.poster.session(), url)

    async def flush_callbacks(self) -> None:
        """POST every due event to the world's callback URL now (a failed one is tried again)."""
        url = self.world.callback_url
        if url:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                for _ in range(POST_TRIES):
                    await self.poster.flush(session, url, now_too=True)
                    if not self.poster.has_due():
                        break


@contextlib.asynccontextmanager
async def run_emulator(
    world: World | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    wall_clock: Clock | None = None,
    send_log_path: str | Path | None = None,
    call_log_path: str | Path | None = None,
    callback_poll_s: float = 0.2,
    access_log: bool = False,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator on host:port (0 = a free port) until the block exits.

    `clock` drives quotas, rates, the send and call logs and the status API (a VirtualClock in
    simulations); `wall_clock` (the system clock by default) checks signature freshness, as clients
    sign with real time. A client that has not sent a whole request `request_timeout_s` after
    connecting (or after its last answer) is cut off.
    """
    service = SesEmulator(
        world or permissive_world(), clock or SystemClock(), send_log_path=send_log_path, call_log_path=call_log_path
    )
    app = build_app(service, wall_clock, request_timeout_s)
    # A short shutdown: held-back answers (timeout_after_accept) are released by `closing` below.
    # keepalive_timeout also bounds a connection that never completes its headers (aiohttp arms it
    # when the connection opens and after each answer); the body has its own timeout in `handle`.
    runner_options: dict[str, Any] = {
        "shutdown_timeout": 1.0,
        "keepalive_timeout": request_timeout_s,
        "lingering_time": min(10.0, request_timeout_s),
        "logger": OneLineHttpLog("orchestrator.ses.emulator.http", "emulator_bad_http", _bad_http),
    }
    if not access_log:
        runner_options["access_log"] = None
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    sockets = getattr(server, "sockets", None) or []
    bound_port = int(sockets[0].getsockname()[1]) if sockets else port
    emulator = app[_EMULATOR_KEY]
    poster = CallbackPoster(service.events, service.clock, poll_s=callback_poll_s)
    task = asyncio.create_task(poster.run(lambda: service.world.callback_url))
    try:
        yield RunningEmulator(f"http://{host}:{bound_port}", host, bound_port, service, emulator, poster)
    finally:
        emulator.closing.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.cleanup()
