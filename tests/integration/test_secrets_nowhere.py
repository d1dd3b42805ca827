"""The pipeline run with known secrets: none of them reaches a log line, `status`, the live page or Redis,
and no info-level log line carries a full recipient address (docs/security.md).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.core.clock import VirtualClock
from orchestrator.logging_setup import configure_logging
from orchestrator.settings import Settings
from orchestrator.store import keys
from orchestrator.web.app import running_web
from orchestrator.web.context import WebContext
from tests.callback_app import TOKEN
from tests.integration.test_callbacks import run_with_callbacks
from tests.pipeline_harness import SECRET_ID, SECRET_KEY, START, Pipeline, settings_for

#: The secrets of the run: Tencent's key pair (the emulator's account) and the callback token.
SECRETS = {"TENCENTCLOUD_SECRET_KEY": SECRET_KEY, "TENCENTCLOUD_SECRET_ID": SECRET_ID, "CALLBACK_TOKEN": TOKEN}
#: Operator settings that are secrets too: in the environment of every process of the run.
MORE = {"WEB_ACCESS_TOKEN": "web-access-token-0123456789"}
WEB_TOKEN = MORE["WEB_ACCESS_TOKEN"]


@pytest.fixture
def info_logs() -> Iterator[io.StringIO]:
    """Every log line at INFO and above, as JSON, into a buffer; stderr and the usual level restored after."""
    buf, real = io.StringIO(), sys.stderr
    sys.stderr = buf
    configure_logging("json", "INFO")
    try:
        yield buf
    finally:
        sys.stderr = real
        configure_logging("json", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


async def redis_text(redis: Redis) -> str:
    """Every key, every value of every type, and every key's DUMP, as one text to search."""
    parts: list[str] = []
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        parts.append(key)
        if kind == "string":
            parts.append(str(await redis.get(key)))
        elif kind == "hash":
            parts.extend(f"{f}={v}" for f, v in (await redis.hgetall(key)).items())  # type: ignore[misc]
        elif kind == "list":
            parts.extend(await redis.lrange(key, 0, -1))  # type: ignore[misc]
        elif kind == "set":
            parts.extend(await redis.smembers(key))  # type: ignore[misc]
        elif kind == "zset":
            parts.extend(m for m, _ in await redis.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            parts.extend(f"{f}={v}" for _, entry in await redis.xrange(key) for f, v in entry.items())
    raw = Redis(connection_pool=redis.connection_pool)  # DUMP answers bytes: read them undecoded
    dumps = [
        await raw.execute_command("DUMP", key, NEVER_DECODE=True)  # type: ignore[no-untyped-call]
        for key in await redis.keys("*")
    ]
    parts.extend(d.decode("latin-1") for d in dumps if d)
    return "\n".join(parts)


async def live_pages(redis: Redis, now: float) -> str:
    """The web app, on settings read from the environment, asked for `/` (by `?token=`, then its cookie),
    `/status.json` and `/metrics`: every answer's headers and body, as one text to search."""
    ctx = WebContext(redis, Settings(_env_file=None, WEB_PORT=0), VirtualClock(now))
    assert ctx.settings.web_access_token is not None  # the page's process holds the token
    parts: list[str] = []
    async with (
        running_web(ctx) as web,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        async with http.get(f"{web.url}/?token={WEB_TOKEN}", allow_redirects=False) as resp:
            assert resp.status == 303
            parts.append(str(resp.headers))
        bearer = {"Authorization": f"Bearer {WEB_TOKEN}"}
        for path, headers in [("/", {}), ("/status.json", bearer), ("/metrics", bearer)]:
            async with http.get(web.url + path, headers=headers) as resp:
                assert resp.status == 200, path
                parts += [str(resp.headers), await resp.text()]
    return "\n".join(parts)


async def test_secrets_reach_no_log_status_page_or_redis(
    pipe: Pipeline, redis_url: str, info_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known secrets appear in no log line, `status` output, live page or Redis value; logs show no full address."""
    # Every Settings built in this process (the sender's, the callback server's, the web app's) reads the
    # environment: each then holds every secret, so not finding one below means something.
    for name, secret in {**SECRETS, **MORE}.items():
        monkeypatch.setenv(name, secret)
    pipeline_settings = settings_for(pipe.emu)
    assert pipeline_settings.web_access_token is not None
    assert pipeline_settings.web_access_token.get_secret_value() == WEB_TOKEN
    await run_with_callbacks(pipe, n=20)
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(START + 3600))
    env = {"REDIS_URL": redis_url, "LOG_LEVEL": "DEBUG", **SECRETS, **MORE}
    outputs = []
    for argv in (["status"], ["status", pipe.cid, "--json"], ["status", pipe.cid], ["logs", pipe.cid]):
        result = await asyncio.to_thread(CliRunner().invoke, main, argv, env=env)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    configure_logging("json", "INFO")  # the commands set their own logging up: back to the captured stderr
    page = await live_pages(pipe.redis, START + 3600)
    logs = info_logs.getvalue()
    stored = await redis_text(pipe.redis)

    assert '"event": "send_accepted"' in logs  # the log was captured: the searches below mean something
    assert pipe.cid in page  # the page shows the campaign: the search below means something
    assert pipe.cid in stored
    addresses = {r.to_address for r in pipe.emu.send_log}
    assert len(addresses) == 20
    assert all(a in stored for a in addresses)  # the ledger holds addresses (it must); the secrets it must not
    for name, secret in {**SECRETS, **MORE}.items():
        for place, text in [("logs", logs), ("status", "\n".join(outputs)), ("page", page), ("redis", stored)]:
            assert secret not in text, f"{name} found in {place}"
    leaked = sorted(a for a in addresses if a in logs)
    assert leaked == [], leaked
