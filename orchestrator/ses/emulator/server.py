"""The emulator's HTTP face: an aiohttp app speaking Tencent Cloud API 3.0, and an in-process runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

from orchestrator.clock import SystemClock
from orchestrator.core.addresses import parse_from_address
from orchestrator.core.clock import Clock
from orchestrator.ses.emulator.faults import FaultPlan
from orchestrator.ses.emulator.recipients import CallbackPoster
from orchestrator.ses.emulator.service import ApiError, SendRecord, SesEmulator
from orchestrator.ses.emulator.signing import SignatureError, verify
from orchestrator.ses.emulator.world import (
    DROP_AFTER_ACCEPT,
    DROP_BEFORE_ACCEPT,
    HTTP_STATUS_PREFIX,
    TIMEOUT_AFTER_ACCEPT,
    Account,
    World,
    permissive_world,
)

SERVICE: Final = "ses"
API_VERSION: Final = "2020-10-02"
REGIONS: Final = frozenset({"ap-guangzhou", "ap-hongkong", "ap-singapore"})
_AFTER_ACCEPT: Final = frozenset({TIMEOUT_AFTER_ACCEPT, DROP_AFTER_ACCEPT})


def _json(payload: dict[str, Any]) -> web.Response:
    # Exactly "application/json": with "; charset=utf-8" the SDK silently ignores error answers.
    body = json.dumps({"Response": payload}, ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, headers={"Content-Type": "application/json"})


def _error(code: str, message: str, request_id: str) -> web.Response:
    return _json({"Error": {"Code": code, "Message": message}, "RequestId": request_id})


class EmulatorApp:
    """Routes one POST to an action after checking what Tencent checks first (version, signature, rate)."""

    def __init__(self, service: SesEmulator, wall_clock: Clock) -> None:
        self.service = service
        self.wall_clock = wall_clock
        self.faults = FaultPlan(service.world, service.rng)
        self.closing = asyncio.Event()

    def _secret_key_for(self, secret_id: str) -> str | None:
        account = self.service.world.account_by_secret_id(secret_id)
        return account.secret_key if account else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        request_id = str(uuid.uuid4())
        try:
            account, action, params = self._gate(request, body)
            latency = self.service.world.latency
            if latency.max_ms > 0:
                delay_ms = self.service.rng.uniform(latency.min_ms, max(latency.min_ms, latency.max_ms))
                await asyncio.sleep(delay_ms / 1000)
            self.service.admit(account.name)
        except (ApiError, SignatureError) as exc:
            return _error(exc.code, exc.message, request_id)
        destination = [str(d) for d in params.get("Destination") or []] if action == "SendEmail" else []
        rule = self.faults.pick(action, account.name, (d.rpartition("@")[2] for d in destination))
        if rule is not None and rule.code not in _AFTER_ACCEPT:
            return self._injected(request, rule.code, rule.message, request_id, params, account.name)
        try:
            result = self.service.actions[action](account, params)
        except ApiError as exc:
            return _error(exc.code, exc.message, request_id)
        if rule is not None and rule.code == DROP_AFTER_ACCEPT:
            return self._drop(request)
        if rule is not None and rule.code == TIMEOUT_AFTER_ACCEPT:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), timeout=rule.hang_s)
        result.setdefault("RequestId", request_id)
        return _json(result)

    def _gate(self, request: web.Request, body: bytes) -> tuple[Account, str, dict[str, Any]]:
        """What Tencent checks before running an action: action, version, signature, region, body."""
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
            raise ApiError("InvalidAction", f"The action {action} is not found.")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("InvalidParameter", "The body is not JSON.") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The body is not a JSON object.")
        return account, action, params

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
        if code.startswith(HTTP_STATUS_PREFIX) and code[len(HTTP_STATUS_PREFIX) :].isdigit():
            status = int(code[len(HTTP_STATUS_PREFIX) :])
            return web.Response(status=status, text="injected HTTP error", content_type="text/html")
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


_EMULATOR_KEY: Final = web.AppKey("emulator", EmulatorApp)


def build_app(service: SesEmulator, wall_clock: Clock | None = None) -> web.Application:
    """The aiohttp application: every action is a POST to `/`, as with Tencent."""
    app = web.Application()
    emulator = EmulatorApp(service, wall_clock or SystemClock())
    app[_EMULATOR_KEY] = emulator
    app.router.add_post("/", emulator.handle)
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
    def events(self) -> list[dict[str, Any]]:
        return self.service.events

    @property
    def endpoint(self) -> str:
        """host:port, as the SDK's HttpProfile(endpoint=...) wants it."""
        return f"{self.host}:{self.port}"

    async def flush_callbacks(self) -> None:
        """POST every due event to the world's callback URL now."""
        url = self.world.callback_url
        if url:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                await self.poster.flush(session, url)


@contextlib.asynccontextmanager
async def run_emulator(
    world: World | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    wall_clock: Clock | None = None,
    send_log_path: str | Path | None = None,
    callback_poll_s: float = 0.2,
    access_log: bool = False,
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator on host:port (0 = a free port) until the block exits.

    `clock` drives quotas, rates, the send log and the status API (a VirtualClock in simulations);
    `wall_clock` (the system clock by default) checks signature freshness, as clients sign with real time.
    """
    service = SesEmulator(world or permissive_world(), clock or SystemClock(), send_log_path=send_log_path)
    app = build_app(service, wall_clock)
    # A short shutdown: held-back answers (timeout_after_accept) are released by `closing` below.
    if access_log:
        runner = web.AppRunner(app, shutdown_timeout=1.0)
    else:
        runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
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
