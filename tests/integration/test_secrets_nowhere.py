"""The pipeline run with known secrets: none of them reaches a log line, `status`, the live page or Redis,
and no info-level log line carries a full recipient address (docs/security.md).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.logging_setup import configure_logging
from orchestrator.status import all_status
from orchestrator.store import events, keys
from orchestrator.web.page import PageData, render_page
from tests.callback_app import TOKEN
from tests.integration.test_callbacks import run_with_callbacks
from tests.pipeline_harness import SECRET_ID, SECRET_KEY, START, Pipeline

#: The secrets of the run: Tencent's key pair (the emulator's account) and the callback token.
SECRETS = {"TENCENTCLOUD_SECRET_KEY": SECRET_KEY, "TENCENTCLOUD_SECRET_ID": SECRET_ID, "CALLBACK_TOKEN": TOKEN}
#: Operator settings that are secrets too, set for the `status` commands.
MORE = {"WEB_ACCESS_TOKEN": "web-access-token-0123456789"}


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
            parts.extend(f"{f}={v}" for f, v in (await redis.hgetall(key)).items())
        elif kind == "list":
            parts.extend(await redis.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(await redis.smembers(key))
        elif kind == "zset":
            parts.extend(m for m, _ in await redis.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            parts.extend(f"{f}={v}" for _, entry in await redis.xrange(key) for f, v in entry.items())
    raw = Redis(connection_pool=redis.connection_pool)  # DUMP answers bytes: read them undecoded
    dumps = [await raw.execute_command("DUMP", key, NEVER_DECODE=True) for key in await redis.keys("*")]
    parts.extend(d.decode("latin-1") for d in dumps if d)
    return "\n".join(parts)


async def test_secrets_reach_no_log_status_page_or_redis(
    pipe: Pipeline, redis_url: str, info_logs: io.StringIO
) -> None:
    """Known secrets appear in no log line, `status` output, live page or Redis value; logs show no full address."""
    await run_with_callbacks(pipe, n=20)
    await pipe.redis.set(keys.VIRTUAL_NOW, repr(START + 3600))
    env = {"REDIS_URL": redis_url, "LOG_LEVEL": "DEBUG", **SECRETS, **MORE}
    outputs = []
    for argv in (["status"], ["status", pipe.cid, "--json"], ["status", pipe.cid], ["logs", pipe.cid]):
        result = await asyncio.to_thread(CliRunner().invoke, main, argv, env=env)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    configure_logging("json", "INFO")  # the commands set their own logging up: back to the captured stderr
    statuses = [s.as_json() for s in await all_status(pipe.redis, START + 3600)]
    page = render_page(PageData(statuses, await events.recent(pipe.redis, 200), START + 3600, 1.0))
    logs = info_logs.getvalue()
    stored = await redis_text(pipe.redis)

    assert '"event": "send_accepted"' in logs  # the log was captured: the searches below mean something
    assert pipe.cid in stored
    addresses = {r.to_address for r in pipe.emu.send_log}
    assert len(addresses) == 20
    assert all(a in stored for a in addresses)  # the ledger holds addresses (it must); the secrets it must not
    for name, secret in {**SECRETS, **MORE}.items():
        for place, text in [("logs", logs), ("status", "\n".join(outputs)), ("page", page), ("redis", stored)]:
            assert secret not in text, f"{name} found in {place}"
    leaked = sorted(a for a in addresses if a in logs)
    assert leaked == [], leaked
