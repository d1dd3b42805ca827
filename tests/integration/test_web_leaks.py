"""What the web process gives away to a request it should not trust: no token in its logs, no page to
a name that was rebound to 127.0.0.1 (DNS rebinding)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from structlog.testing import capture_logs

from orchestrator.core.clock import VirtualClock
from orchestrator.settings import Settings
from orchestrator.web.access import COOKIE, loopback_host
from orchestrator.web.app import running_web
from orchestrator.web.context import WebContext
from tests.redis_server import free_port

CALLBACK_TOKEN = "cbTOKENsecret0123456789abcdef"
WEB_TOKEN = "webTOKENsecret0123456789"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("127.0.0.1", True),
        ("localhost:8080", True),
        ("LOCALHOST", True),
        ("[::1]:8080", True),
        ("::1", True),
        ("rebind.attacker.example:8080", False),
        ("127.0.0.1.nip.io:8080", False),
        ("[::1", False),
        ("[::1]evil.example", False),
        ("[::1]:80x", False),
        ("localhost.:8080", True),
        ("", False),
        ("10.0.0.1:8080", False),
    ],
)
def test_loopback_host_header(header: str, allowed: bool) -> None:
    assert loopback_host(header) is allowed


async def test_without_a_token_a_rebound_name_gets_no_page(redis: Redis, http: aiohttp.ClientSession) -> None:
    """No WEB_ACCESS_TOKEN, bound to loopback: a request whose Host is another name (a page that rebound its
    own name to 127.0.0.1) is refused on every operator page; loopback names still answer, /healthz too."""
    settings = Settings(_env_file=None, WEB_HOST="127.0.0.1", WEB_PORT=0)
    async with running_web(WebContext(redis, settings, VirtualClock(1_800_000_000.0))) as web:
        for path in ("/", "/status.json", "/metrics"):
            async with http.get(web.url + path, headers={"Host": f"rebind.attacker.example:{web.port}"}) as resp:
                assert resp.status == 403, path
                assert "127.0.0.1" in await resp.text()
            for name in (f"localhost:{web.port}", f"127.0.0.1:{web.port}"):
                async with http.get(web.url + path, headers={"Host": name}) as resp:
                    assert resp.status == 200, (path, name)
        async with http.get(web.url + "/healthz", headers={"Host": "rebind.attacker.example"}) as resp:
            assert resp.status == 200
    with_token = Settings(_env_file=None, WEB_HOST="127.0.0.1", WEB_PORT=0, WEB_ACCESS_TOKEN=SecretStr(WEB_TOKEN))
    async with running_web(WebContext(redis, with_token, VirtualClock(1_800_000_000.0))) as web:
        bearer = {"Host": "status.example.org", "Authorization": f"Bearer {WEB_TOKEN}"}
        async with http.get(web.url + "/status.json", headers=bearer) as resp:
            assert resp.status == 200  # behind its token the page may sit behind a proxy of any name


@pytest.mark.parametrize(
    "header",
    [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("X-Real-IP", "203.0.113.9"),
        ("Via", "1.1 nginx"),
        ("X-Forwarded-Host", "hooks.example.com"),
        ("X-Forwarded-Proto", "https"),
    ],
)
async def test_without_a_token_a_proxied_request_gets_no_page(
    redis: Redis, http: aiohttp.ClientSession, header: tuple[str, str]
) -> None:
    """No WEB_ACCESS_TOKEN: a reverse proxy on this host (nginx's default `proxy_pass http://127.0.0.1:8080`
    sends that loopback name as Host) would serve the pages to the internet: a request that says it was
    forwarded is refused, whatever its Host; /healthz still answers."""
    settings = Settings(_env_file=None, WEB_HOST="127.0.0.1", WEB_PORT=0)
    async with running_web(WebContext(redis, settings, VirtualClock(1_800_000_000.0))) as web:
        for path in ("/", "/status.json", "/metrics"):
            async with http.get(
                web.url + path, headers={"Host": f"127.0.0.1:{web.port}", header[0]: header[1]}
            ) as resp:
                assert resp.status == 403, path
                assert "WEB_ACCESS_TOKEN" in await resp.text()
        async with http.get(web.url + "/healthz", headers=dict([header])) as resp:
            assert resp.status == 200


async def test_tokens_are_compared_in_constant_time(
    redis: Redis, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every token check (the callback path, Bearer, `?token=`, the cookie) goes through hmac.compare_digest:
    a plain `==` would let a timing attacker learn a token one character at a time."""
    seen: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append(bytes(b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    settings = Settings(
        _env_file=None,
        WEB_PORT=0,
        CALLBACK_TOKEN=SecretStr(CALLBACK_TOKEN),
        WEB_ACCESS_TOKEN=SecretStr(WEB_TOKEN),
    )
    async with running_web(WebContext(redis, settings, VirtualClock(1_800_000_000.0))) as web:
        async with http.post(f"{web.url}/callbacks/tencent/{CALLBACK_TOKEN[:-1]}x", data=b"[]") as resp:
            assert resp.status == 404
        assert seen == [CALLBACK_TOKEN.encode()]
        async with http.get(
            web.url + "/status.json", headers={"Authorization": "Bearer wrong-token-0123456789"}
        ) as resp:
            assert resp.status == 401
        async with http.get(web.url + "/status.json?token=wrong-token-0123456789", allow_redirects=False) as resp:
            assert resp.status == 401
        assert seen[1:] == [WEB_TOKEN.encode()] * 2
        http.cookie_jar.update_cookies({COOKIE: "forged"})
        async with http.get(web.url + "/status.json") as resp:
            assert resp.status == 401
        assert len(seen) == 4  # the cookie too


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


async def test_no_token_reaches_the_logs_when_redis_is_down_or_a_request_is_malformed(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback while Redis is down (503, Tencent retries it), a request line too long, an unknown HTTP
    version, a `?token=` sign-in that fails on Redis: the logs name what went wrong, never a token."""
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    settings = Settings(
        _env_file=None,
        WEB_HOST="127.0.0.1",
        WEB_PORT=0,
        CALLBACK_TOKEN=SecretStr(CALLBACK_TOKEN),
        WEB_ACCESS_TOKEN=SecretStr(WEB_TOKEN),
    )
    event = {"email": "a@b.example", "event": "delivered", "timestamp": 1_800_000_000, "bulkId": "m-1"}
    caplog.set_level(logging.DEBUG)
    try:
        with capture_logs() as logs:
            async with running_web(WebContext(dead, settings, VirtualClock(1_800_000_000.0))) as web:
                route = f"/callbacks/tencent/{CALLBACK_TOKEN}"
                async with http.post(web.url + route, data=json.dumps(event)) as resp:
                    assert resp.status == 503
                async with http.get(web.url + "/", headers={"Authorization": f"Bearer {WEB_TOKEN}"}) as resp:
                    assert resp.status == 503
                long_line = f"POST {route}?{'a' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                assert b" 400 " in await _raw(web.port, long_line)
                assert b" 400 " in await _raw(web.port, f"POST {route} HTTP/9.9\r\nHost: x\r\n\r\n".encode())
                sign_in = f"GET /?token={WEB_TOKEN}{'b' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                assert b" 400 " in await _raw(web.port, sign_in)
    finally:
        await dead.aclose()
    said = repr(logs) + caplog.text
    assert CALLBACK_TOKEN not in said
    assert WEB_TOKEN not in said
    assert CALLBACK_TOKEN[:12] not in said  # not even a start of it, cut short
    assert [e["route"] for e in logs if e["event"] == "web_redis_error"] == ["/callbacks/tencent/{token}", "/"]
    assert sum(e["event"] == "web_bad_http" for e in logs) >= 3
